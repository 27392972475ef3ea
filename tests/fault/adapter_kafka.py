"""The fault suite's Kafka adapter: a source topic, its retry topic, a dead-letter topic.

Why "left" is an offset sum: a Kafka source is never emptied; it is finished
when the group's committed offset of every partition of the source and retry
topics is at that partition's end. End offsets come from ``highwater()`` after
a fetch (Tansu answers ListOffsets LATEST wrongly), see
tests/integration/kafka/broker.py, whose helpers this reuses.
"""

from __future__ import annotations

import contextlib
from typing import Any

from tests.fault.workload import ids
from tests.integration.kafka.broker import (
    BOOTSTRAP,
    FAST_GROUP,
    GroupProbe,
    TopicProbe,
    create_topics,
    publish,
    unique,
)

PARTITIONS = 2


class KafkaAdapter:
    name = "kafka"

    def __init__(
        self, count: int, bootstrap: str = BOOTSTRAP, pipeline_bootstrap: str | None = None
    ) -> None:
        self.count = count
        self.bootstrap = bootstrap
        self.pipeline_bootstrap = pipeline_bootstrap or bootstrap
        self.env: dict[str, str] = {}
        self.topic = unique("fault")
        self.group = unique("fault-group")
        self.retry_topic = f"{self.topic}.retry"
        self.dead_letter_topic = f"{self.topic}.dlq"
        self._dead: TopicProbe | None = None

    async def seed(self) -> None:
        names = [self.topic, self.retry_topic, self.dead_letter_topic]
        await create_topics(names, PARTITIONS, bootstrap=self.bootstrap)
        await publish(
            self.topic, [str(i).encode() for i in ids(self.count)], bootstrap=self.bootstrap
        )

    def producer(self) -> dict[str, Any]:
        return {
            "kafka": {
                "bootstrap_servers": self.pipeline_bootstrap,
                "topics": [self.topic],
                "group_id": self.group,
                "auto_offset_reset": "earliest",
                "retry_topic": self.retry_topic,
                **FAST_GROUP,
            }
        }

    def sections(self) -> dict[str, Any]:
        return {"dead_letter": {"destination": self.dead_letter_topic}}

    async def dead_letters(self) -> list[int]:
        if self._dead is None:
            probe = TopicProbe([self.dead_letter_topic], bootstrap=self.bootstrap)
            await probe.start()
            self._dead = probe
        try:
            values = await self._dead.values(self.dead_letter_topic)
        except Exception:
            await self._reset_probe()  # the broker restarted under the probe
            return []
        return [int(v) for v in values]

    async def left(self) -> int:
        return await self._uncommitted([self.topic, self.retry_topic])

    async def retries_waiting(self) -> int:
        return await self._uncommitted([self.retry_topic])

    async def _uncommitted(self, names: list[str]) -> int:
        """Records of ``names`` past the group's committed offsets."""
        topics = TopicProbe(names, bootstrap=self.bootstrap)
        group = GroupProbe(self.group, bootstrap=self.bootstrap)
        await topics.start()
        await group.start()
        try:
            ends = await topics.end_offsets()
            committed = await group.committed(list(ends))
            return sum(end - committed[tp] for tp, end in ends.items())
        finally:
            await group.stop()
            await topics.stop()

    async def _reset_probe(self) -> None:
        if self._dead is not None:
            with contextlib.suppress(Exception):
                await self._dead.stop()
            self._dead = None

    async def close(self) -> None:
        await self._reset_probe()
