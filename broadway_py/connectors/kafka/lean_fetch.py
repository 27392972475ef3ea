"""Lean fetch: aiokafka's decoded records handed over as they are, without a ConsumerRecord each.

aiokafka decodes each fetched record in C, then copies it, in Python, into a
``ConsumerRecord`` dataclass (eleven fields: sizes, the deprecated checksum,
headers copied into a tuple) that the connector reads five fields of and
drops. The copy is most of what aiokafka spends per record: handing out 500
records of 100 bytes took 563 ns per record with it and 231 ns without it
(``PartitionRecords`` over one batch, this repository's pinned aiokafka).
``bench.kafka_throughput``: see docs/performance.md for what it bought.

:func:`install` makes one consumer's fetcher hand out the decoded record
itself: as the fetcher stores a partition's fetched run, the run's
``PartitionRecords`` gets :func:`_as_decoded` as its per-record conversion.
Everything else aiokafka does per fetch is unchanged: CRC checks, aborted
transactions and control batches under ``read_committed``, the position it
moves as records are handed out, and ``getmany``'s ``max_records``.

Invariants (``tests/unit/connectors/kafka/test_lean_fetch.py`` checks them on
real record batches, keyed, with headers, compressed, transactional, and in
the older message formats v0 and v1):

- a record handed out has the ``offset``, ``key``, ``value``, ``timestamp``
  and ``headers`` of the ``ConsumerRecord`` aiokafka would have made, except
  that ``headers`` may be a list (:func:`.records.to_messages` keeps a tuple);
  it has no ``topic`` or ``partition``: the run's partition is the key
  ``getmany`` gives it under;
- only a consumer with no key or value deserializer is changed (the connector
  never sets one: a deserializer's result would be skipped);
- where aiokafka's internals are not as this expects (another version),
  :func:`install` changes nothing and returns False: the plain path, slower,
  makes the same messages.
"""

from __future__ import annotations

import collections
import inspect
import logging
from typing import Any

log = logging.getLogger("broadway_py.connectors.kafka")

try:
    from aiokafka.consumer.fetcher import (  # type: ignore[import-untyped]
        FetchResult,
        PartitionRecords,
    )
except ImportError:  # another aiokafka layout: the plain path
    FetchResult = PartitionRecords = None


def _as_decoded(tp: Any, record: Any) -> Any:
    """``PartitionRecords._consumer_record`` for a lean run: the decoded record itself."""
    return record


class _LeanRuns(collections.OrderedDict[Any, Any]):
    """The fetcher's ``_records``: a run stored for a partition is made lean as it comes."""

    def __setitem__(self, tp: Any, result: Any) -> None:
        if type(result) is FetchResult:
            run: Any = getattr(result, "_partition_records", None)
            if type(run) is PartitionRecords:
                run._consumer_record = _as_decoded
        super().__setitem__(tp, result)


def _converts_as_expected() -> bool:
    """Whether ``PartitionRecords`` converts each record with ``_consumer_record(tp, record)``."""
    convert = getattr(PartitionRecords, "_consumer_record", None)
    if FetchResult is None or not callable(convert):
        return False
    try:
        return list(inspect.signature(convert).parameters) == ["self", "tp", "record"]
    except (TypeError, ValueError):  # no signature to read
        return False


def install(consumer: Any) -> bool:
    """Make a started consumer hand out decoded records; False (nothing changed) if it cannot."""
    fetcher: Any = getattr(consumer, "_fetcher", None)
    runs = getattr(fetcher, "_records", None)
    if (
        not _converts_as_expected()
        or type(runs) is not collections.OrderedDict
        or getattr(fetcher, "_key_deserializer", True) is not None
        or getattr(fetcher, "_value_deserializer", True) is not None
    ):
        log.debug("kafka: lean fetch not installed (aiokafka's fetcher is not as expected)")
        return False
    lean = _LeanRuns()
    for tp, result in runs.items():  # anything fetched before now, made lean too
        lean[tp] = result
    fetcher._records = lean
    return True
