"""The Kafka connector's contract harness, against the broker scripts/brokers/kafka.sh starts.

Each test gets its own topic (3 partitions), retry topic, dead-letter topic and
group. ``remaining`` counts the messages of the topic and of its retry topic
that the group has not committed yet: the end offset (read from a fetch's
high-water mark) minus the committed offset, summed over partitions.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from broadway_py import ProducerOptions
from broadway_py.connectors.kafka import producer_factory
from tests.contract.harness import ConnectorHarness
from tests.integration.kafka.broker import (
    GroupProbe,
    TopicProbe,
    create_topics,
    kafka_options,
    publish,
    unique,
)

PARTITIONS = 3


class KafkaHarness(ConnectorHarness):
    name = "kafka"
    patience = 30.0
    retry_delay = 0.0

    async def setup(self) -> None:
        self.topic = unique("contract")
        self.group = unique("contract-group")
        self.retry_topic = f"{self.topic}.retry"
        self.dead_topic = f"{self.topic}.dlq"
        await create_topics([self.topic, self.retry_topic, self.dead_topic], PARTITIONS)
        self.options = kafka_options(
            self.topic,
            self.group,
            retry_topic=self.retry_topic,
            dead_letter_topic=self.dead_topic,
        )
        self.sources = TopicProbe([self.topic, self.retry_topic])
        self.dead = TopicProbe([self.dead_topic])
        self.group_probe = GroupProbe(self.group)
        await self.sources.start()
        await self.dead.start()
        await self.group_probe.start()

    async def teardown(self) -> None:
        for probe in (self.sources, self.dead, self.group_probe):
            with contextlib.suppress(Exception):
                await probe.stop()

    async def publish(self, payloads: Sequence[bytes]) -> None:
        await publish(self.topic, payloads)

    def producer_options(self, concurrency: int = 1) -> ProducerOptions:
        return ProducerOptions(producer_factory(self.options, demand=100), concurrency=concurrency)

    async def dead_lettered(self) -> list[bytes]:
        return await self.dead.values(self.dead_topic)

    async def remaining(self) -> int:
        ends = await self.sources.end_offsets()
        committed = await self.group_probe.committed(list(ends))
        return sum(end - committed[tp] for tp, end in ends.items())


HARNESS = KafkaHarness
