"""The dispatch's per-ack_ref fast path agrees with the plain per-message split."""

from __future__ import annotations

from collections.abc import Hashable

from hypothesis import given, settings
from hypothesis import strategies as st

from broadway_py.acknowledger import NOOP_ACKNOWLEDGER
from broadway_py.connectors.kafka import partition_key
from broadway_py.connectors.kafka.key_ordering import record_key
from broadway_py.connectors.kafka.message import Delivery
from broadway_py.connectors.kafka.offsets import PartitionOffsets
from broadway_py.message import Message
from broadway_py.options import ProcessorOptions
from broadway_py.ordering import is_same_for_ack_ref, same_for_ack_ref
from broadway_py.topology.dispatch import ProcessorDispatch

REFS: list[Hashable] = [None, *(object() for _ in range(5))]
"""Ack refs a chunk's messages share; None is never cached."""


def _key(message: Message) -> Hashable:
    """A key that keeps the promise: the same for one ack_ref (None: the message's own)."""
    ref = message.ack_ref
    if message.metadata["poison"] or ref is REFS[1]:
        raise ValueError("no key")
    return message.metadata["own"] if ref is None else REFS.index(ref) * 7


def _split(partition_by: object, chunk: list[Message], workers: int) -> list[list[list[object]]]:
    dispatch = ProcessorDispatch(ProcessorOptions(concurrency=workers, partition_by=partition_by))  # type: ignore[arg-type]
    parts, failed = dispatch.split(chunk)
    return [[[m.data for m in part] for part in parts], [[m.data for m in failed]]]


messages = st.lists(
    st.tuples(st.integers(0, len(REFS) - 1), st.integers(0, 50), st.booleans()), max_size=60
)


@settings(max_examples=300, deadline=None)
@given(messages, st.integers(2, 6))
def test_the_fast_path_splits_as_the_plain_path(
    drawn: list[tuple[int, int, bool]], workers: int
) -> None:
    def chunk() -> list[Message]:
        return [
            Message(
                i,
                NOOP_ACKNOWLEDGER,
                ack_ref=REFS[ref],
                metadata={"own": own, "poison": poison and ref == 0},
            )
            for i, (ref, own, poison) in enumerate(drawn)
        ]

    marked = same_for_ack_ref(lambda message: _key(message))
    fast = ProcessorDispatch(ProcessorOptions(concurrency=workers, partition_by=marked))
    assert fast.by_ack_ref
    assert _split(marked, chunk(), workers) == _split(_key, chunk(), workers)


def test_the_fast_path_fails_each_message_whose_key_raises() -> None:
    ref = object()
    key = same_for_ack_ref(lambda message: 1 // 0)
    dispatch = ProcessorDispatch(ProcessorOptions(concurrency=3, partition_by=key))
    parts, failed = dispatch.split([Message(i, NOOP_ACKNOWLEDGER, ack_ref=ref) for i in range(4)])
    assert parts == [[], [], []]
    assert [m.data for m in failed] == [0, 1, 2, 3]
    assert all(m.status.reason for m in failed)


def test_kafka_marks_its_partition_key_and_not_the_record_key() -> None:
    assert is_same_for_ack_ref(partition_key)
    assert not is_same_for_ack_ref(record_key)


def test_kafka_runs_are_split_as_the_plain_path() -> None:
    deliveries = [
        Delivery(PartitionOffsets(("orders", p), 0), epoch=0, key=("orders", p))
        for p in (0, 1, 2, 3, 1, 0)
    ]
    chunk = [
        Message(
            i,
            NOOP_ACKNOWLEDGER,
            ack_ref=delivery,
            metadata={"topic": "orders", "partition": delivery.key[1]},
        )
        for delivery in deliveries
        for i in range(5)
    ]
    fast = _split(partition_key, chunk, 4)
    plain = _split(lambda message: partition_key(message), chunk, 4)
    assert fast == plain
    assert sum(1 for part in fast[0] if part) == 4  # four partitions, four processors
