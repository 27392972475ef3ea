"""Committer: commits explicit offsets, one commit at a time, and measures consumer lag.

A commit is always ``consumer.commit({TopicPartition: OffsetAndMetadata})``
for partitions whose commit point moved (see :mod:`.offsets`), never a bare
``commit()`` of what was fetched. A commit refused because the group
rebalanced is expected (the new owner starts from the last commit); any other
failure is logged and the offsets are tried again at the next tick.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiokafka.structs import OffsetAndMetadata  # type: ignore[import-untyped]

from broadway_py.connectors.kafka.errors import REBALANCED, translate
from broadway_py.connectors.kafka.offsets import OffsetTracker, PartitionOffsets

log = logging.getLogger("broadway_py.connectors.kafka")


class Committer:
    def __init__(self, tracker: OffsetTracker, timeout: float, servers: str) -> None:
        self.tracker = tracker
        self.timeout = timeout
        self.servers = servers
        self._lock = asyncio.Lock()

    async def commit(self, consumer: Any, partitions: list[PartitionOffsets], why: str) -> int:
        """Commit the partitions' commit points that moved; returns how many were committed."""
        commits = self.tracker.to_commit(partitions)
        if consumer is None or not commits:
            return 0
        offsets = {tp: OffsetAndMetadata(offset, "") for tp, offset in commits.items()}
        async with self._lock:
            try:
                await asyncio.wait_for(consumer.commit(offsets), self.timeout)
            except REBALANCED as error:
                log.info("kafka: %s commit refused, the group is rebalancing: %s", why, error)
                return 0
            except Exception as error:
                log.warning(
                    "kafka: %s commit of %d offsets failed: %s",
                    why,
                    len(offsets),
                    translate(error, f"committing to {self.servers}"),
                )
                return 0
        by_key = {o.key: o for o in partitions}
        for key, offset in commits.items():
            by_key[key].mark_committed(offset)
        return len(commits)

    def lag(self, consumer: Any) -> dict[tuple[str, int], int]:
        """Per (topic, partition): the last fetch's high-water mark minus the first offset
        not done. Partitions not fetched yet are left out."""
        lag: dict[tuple[str, int], int] = {}
        for offsets in self.tracker.live():
            tp: Any = offsets.key
            try:
                highwater = consumer.highwater(tp)
            except Exception:
                continue
            if highwater is None:
                continue
            low = offsets.low_water()
            lag[(tp.topic, tp.partition)] = 0 if low is None else max(highwater - low, 0)
        return lag
