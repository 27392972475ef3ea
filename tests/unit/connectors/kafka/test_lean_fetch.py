"""The lean fetch makes the same messages as aiokafka's ConsumerRecords (see ``lean_fetch``).

Real record batches, built with aiokafka's own builder (keys, values,
headers, timestamps, every codec this install has, transactional batches
aborted by a control batch under ``read_committed``), are handed out once
the plain way and once the lean way; the messages, and where the fetch would
go on from, must be the same.
"""

from __future__ import annotations

import collections
import struct
from typing import Any

import pytest
from aiokafka.consumer.fetcher import (  # type: ignore[import-untyped]
    READ_COMMITTED,
    READ_UNCOMMITTED,
    FetchResult,
    PartitionRecords,
)
from aiokafka.record.default_records import (  # type: ignore[import-untyped]
    DefaultRecordBatchBuilder,
)
from aiokafka.record.legacy_records import (  # type: ignore[import-untyped]
    LegacyRecordBatchBuilder,
)
from aiokafka.record.memory_records import MemoryRecords  # type: ignore[import-untyped]
from aiokafka.record.util import calc_crc32c  # type: ignore[import-untyped]
from aiokafka.structs import TopicPartition
from hypothesis import given, settings
from hypothesis import strategies as st

from broadway_py.acknowledger import NOOP_ACKNOWLEDGER
from broadway_py.connectors.kafka import lean_fetch
from broadway_py.connectors.kafka.headers import ATTEMPT
from broadway_py.connectors.kafka.offsets import PartitionOffsets
from broadway_py.connectors.kafka.records import to_messages
from broadway_py.message import Message

TP = TopicPartition("orders", 2)
PRODUCER_ID = 7


def _codecs() -> list[int]:
    """0 (none), gzip, and whichever of snappy, lz4 and zstd this install can write."""
    usable = [0]
    for codec in (1, 2, 3, 4):
        builder = DefaultRecordBatchBuilder(2, codec, 0, -1, -1, -1, 1 << 16)
        builder.append(0, timestamp=0, key=None, value=b"x", headers=[])
        try:
            builder.build()
        except Exception:  # the codec's library is not installed
            continue
        usable.append(codec)
    return usable


CODECS = _codecs()

record = st.tuples(
    st.one_of(st.none(), st.binary(max_size=6)),  # key
    st.one_of(st.none(), st.binary(max_size=12)),  # value
    st.integers(0, 2**41),  # timestamp, ms
    st.lists(
        st.tuples(st.sampled_from([ATTEMPT, "trace", "x"]), st.sampled_from([b"2", b"", b"\x00"])),
        max_size=3,
    ),
)
batch = st.tuples(
    st.sampled_from(CODECS),
    st.booleans(),  # aborted: written in a transaction that a control batch aborts
    st.lists(record, min_size=1, max_size=8),
)


def _batch(
    base: int, codec: int, transactional: bool, records: list[tuple[Any, ...]]
) -> tuple[bytes, int]:
    builder = DefaultRecordBatchBuilder(
        2, codec, int(transactional), PRODUCER_ID if transactional else -1, 0, -1, 1 << 20
    )
    for i, (key, value, timestamp, headers) in enumerate(records):
        builder.append(i, timestamp=timestamp, key=key, value=value, headers=headers)
    built = bytearray(builder.build())
    struct.pack_into(">q", built, 0, base)
    return bytes(built), base + len(records)


def _abort_marker(base: int) -> tuple[bytes, int]:
    """A control batch saying the producer's transaction was aborted."""
    builder = DefaultRecordBatchBuilder(2, 0, 1, PRODUCER_ID, 0, -1, 1 << 10)
    builder.append(0, timestamp=0, key=struct.pack(">hh", 0, 0), value=b"\x00" * 6, headers=[])
    built = bytearray(builder.build())
    struct.pack_into(">q", built, 0, base)
    (attributes,) = struct.unpack_from(">h", built, 21)
    struct.pack_into(">h", built, 21, attributes | 0x20)  # the control bit
    struct.pack_into(">I", built, 17, calc_crc32c(bytes(built[21:])))
    return bytes(built), base + 1


def _fetched(batches: list[tuple[int, bool, list[tuple[Any, ...]]]]) -> tuple[bytes, list[Any]]:
    """The bytes of one fetched run, and the aborted transactions the broker would name."""
    chunks: list[bytes] = []
    aborted: list[tuple[int, int]] = []
    offset = 0
    for codec, is_aborted, records in batches:
        chunk, end = _batch(offset, codec, is_aborted, records)
        chunks.append(chunk)
        if is_aborted:
            aborted.append((PRODUCER_ID, offset))
            marker, end = _abort_marker(end)
            chunks.append(marker)
        offset = end
    return b"".join(chunks), aborted


def _hand_out(data: bytes, aborted: list[Any], isolation: int, lean: bool) -> tuple[Any, int]:
    run = PartitionRecords(TP, MemoryRecords(data), aborted, 0, None, None, True, isolation)
    if lean:
        runs = lean_fetch._LeanRuns()
        runs[TP] = FetchResult(TP, assignment=None, partition_records=run, backoff=0)
    return list(run), run.next_fetch_offset


def _seen(message: Message) -> tuple[Any, ...]:
    return (
        message.ack_data,
        message.data,
        message.attempt,
        message.id,
        message.metadata,
    )


@settings(max_examples=150)
@given(st.lists(batch, min_size=1, max_size=5), st.sampled_from([READ_UNCOMMITTED, READ_COMMITTED]))
def test_lean_records_make_the_messages_consumer_records_make(
    batches: list[tuple[int, bool, list[tuple[Any, ...]]]], isolation: int
) -> None:
    data, aborted = _fetched(batches)
    plain, plain_next = _hand_out(data, aborted, isolation, lean=False)
    lean, lean_next = _hand_out(data, aborted, isolation, lean=True)
    assert lean_next == plain_next
    assert all(type(r) is not type(p) for r, p in zip(lean, plain, strict=True))
    made = [
        [_seen(m) for m in to_messages(run, (TP.topic, TP.partition), offsets, NOOP_ACKNOWLEDGER)]
        for run, offsets in ((plain, PartitionOffsets(TP, 1)), (lean, PartitionOffsets(TP, 1)))
    ]
    assert made[0] == made[1]
    if isolation == READ_COMMITTED:
        kept = sum(len(records) for _, is_aborted, records in batches if not is_aborted)
        assert len(made[0]) == kept


@given(
    st.sampled_from([0, 1]),
    st.sampled_from(CODECS),
    st.lists(
        st.tuples(st.one_of(st.none(), st.binary(max_size=6)), st.binary(max_size=12)),
        min_size=1,
        max_size=8,
    ),
)
def test_older_message_formats_too(
    magic: int, codec: int, records: list[tuple[bytes | None, bytes]]
) -> None:
    builder = LegacyRecordBatchBuilder(magic, codec, 1 << 20)
    for offset, (key, value) in enumerate(records):
        builder.append(
            offset, timestamp=None if magic == 0 else 1000 + offset, key=key, value=value
        )
    data = bytes(builder.build())
    plain, _ = _hand_out(data, [], READ_UNCOMMITTED, lean=False)
    lean, _ = _hand_out(data, [], READ_UNCOMMITTED, lean=True)
    assert all(type(r) is not type(p) for r, p in zip(lean, plain, strict=True))
    made = [
        [
            _seen(m)
            for m in to_messages(
                run, (TP.topic, TP.partition), PartitionOffsets(TP, 1), NOOP_ACKNOWLEDGER
            )
        ]
        for run in (plain, lean)
    ]
    assert made[0] == made[1]
    assert len(made[0]) == len(records)


def test_headers_are_kept_as_a_tuple() -> None:
    data, aborted = _fetched([(0, False, [(b"k", b"v", 5, [("x", b"1")])])])
    lean, _ = _hand_out(data, aborted, READ_UNCOMMITTED, lean=True)
    (message,) = to_messages(lean, ("orders", 2), PartitionOffsets(TP, 1), NOOP_ACKNOWLEDGER)
    assert message.metadata["headers"] == (("x", b"1"),)


class _Fetcher:
    def __init__(self, deserializer: Any = None) -> None:
        self._records: Any = collections.OrderedDict()
        self._key_deserializer = None
        self._value_deserializer = deserializer


class _Consumer:
    def __init__(self, fetcher: Any) -> None:
        self._fetcher = fetcher


def test_install_makes_runs_stored_before_and_after_lean() -> None:
    fetcher = _Fetcher()
    data, aborted = _fetched([(0, False, [(None, b"a", 1, [])]), (0, False, [(None, b"b", 2, [])])])
    before = PartitionRecords(TP, MemoryRecords(data), aborted, 0, None, None, True, 0)
    fetcher._records[TP] = FetchResult(TP, assignment=None, partition_records=before, backoff=0)
    assert lean_fetch.install(_Consumer(fetcher))
    other = TopicPartition("orders", 3)
    after = PartitionRecords(other, MemoryRecords(data), aborted, 0, None, None, True, 0)
    stored = FetchResult(other, assignment=None, partition_records=after, backoff=0)
    fetcher._records[other] = stored
    assert list(fetcher._records) == [TP, other]
    for run in (before, after):
        assert [type(r).__name__ for r in run] == ["DefaultRecord", "DefaultRecord"]


@pytest.mark.parametrize(
    "consumer",
    [
        pytest.param(object(), id="not started"),
        pytest.param(_Consumer(_Fetcher(deserializer=bytes.decode)), id="a value deserializer"),
        pytest.param(_Consumer(type("F", (), {"_records": {}})()), id="another records type"),
    ],
)
def test_install_leaves_what_it_does_not_know(consumer: Any) -> None:
    fetcher = getattr(consumer, "_fetcher", None)
    runs = getattr(fetcher, "_records", None)
    assert not lean_fetch.install(consumer)
    assert getattr(fetcher, "_records", None) is runs


def test_install_leaves_an_aiokafka_that_converts_records_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Converting:
        def _consumer_record(self, record: Any) -> Any:  # another signature
            return record

    monkeypatch.setattr(lean_fetch, "PartitionRecords", Converting)
    fetcher = _Fetcher()
    runs = fetcher._records
    assert not lean_fetch.install(_Consumer(fetcher))
    assert fetcher._records is runs
