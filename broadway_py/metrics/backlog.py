"""Backlog: what the broker holds for each source, from several producers' reports.

With ``producer.concurrency`` above 1 several producers report on one source,
and what a report covers depends on how they share it:

- a queue (RabbitMQ, SQS, memory): every consumer sees the whole queue, so
  each ``BacklogReported`` is the queue's depth and the latest one stands;
  adding them up would count the queue once per producer.
- a partitioned source (Kafka): each group member holds some partitions and
  reports their lags (``PartitionLagReported``), then their sum
  (``BacklogReported``). The source's backlog is the sum of the latest lag of
  every partition, whoever reported it, so a partition that moved between
  producers in a rebalance counts once, under its new owner. A producer's
  ``BacklogReported`` closes its round of partition reports: a partition it
  reported before but not in this round was taken from it and is dropped
  until its new owner reports it.

A source is partitioned once any producer reported a partition lag for it.
The latest lag of each partition is exposed too (:meth:`Backlog.partition_lags`),
at most ``MAX_PARTITION_SERIES`` partitions per source.
Pure bookkeeping: called once per report, never per message.
"""

from __future__ import annotations

from broadway_py.telemetry import BacklogReported, PartitionLagReported

MAX_PARTITION_SERIES = 1000
"""Partitions per source whose lag is exposed (the lowest numbers), to bound the labels.

The source's backlog (``by_source``) still sums every partition.
"""


class Backlog:
    """Messages waiting in the broker, per source (``by_source``)."""

    __slots__ = ("_partitions", "_rounds", "by_source")

    def __init__(self) -> None:
        self.by_source: dict[str, int] = {}
        # Partitioned sources: partition -> (the producer that last reported it, its lag).
        self._partitions: dict[str, dict[int, tuple[int, int]]] = {}
        # Partitions each producer reported since its last BacklogReported, per source.
        self._rounds: dict[tuple[str, int], set[int]] = {}

    @property
    def total(self) -> int:
        return sum(self.by_source.values())

    def partition_lags(self) -> dict[str, dict[int, int]]:
        """The latest lag of each partition, per partitioned source, by partition number.

        A partition taken from a producer in a rebalance is not there until its
        new owner reports it; at most ``MAX_PARTITION_SERIES`` per source.
        """
        return {
            source: {
                partition: partitions[partition][1]
                for partition in sorted(partitions)[:MAX_PARTITION_SERIES]
            }
            for source, partitions in sorted(self._partitions.items())
        }

    def partition_lag(self, event: PartitionLagReported) -> None:
        partitions = self._partitions.get(event.source)
        if partitions is None:
            partitions = self._partitions[event.source] = {}
        partitions[event.partition] = (event.producer, max(event.messages, 0))
        key = (event.source, event.producer)
        reported = self._rounds.get(key)
        if reported is None:
            reported = self._rounds[key] = set()
        reported.add(event.partition)

    def reported(self, event: BacklogReported) -> None:
        partitions = self._partitions.get(event.source)
        if partitions is None:
            self.by_source[event.source] = max(event.messages, 0)
            return
        producer = event.producer
        kept = self._rounds.pop((event.source, producer), set())
        for partition in [p for p, (owner, _) in partitions.items() if owner == producer]:
            if partition not in kept:
                del partitions[partition]
        self.by_source[event.source] = sum(lag for _, lag in partitions.values())
