"""Per-partition lag, per-producer oldest age and recent failures, from a real broker.

A pipeline on a three-partition topic acks every message but one per
partition, which waits in a batch that does not close while the test looks,
and dead-letters a poison message: each partition's committed offset stops
at its waiting message, so the lag the pipeline exposes per partition must be
the broker's end offset minus the group's committed offset, partition by
partition.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiokafka import TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from broadway_py import (
    BatcherOptions,
    BatchInfo,
    Handler,
    Message,
    Pipeline,
    ProcessorOptions,
    ProducerOptions,
    ShutdownOptions,
)
from broadway_py.connectors.kafka import ordering_key, producer_factory
from broadway_py.errors import PoisonMessageError
from broadway_py.metrics import Server, serve
from tests.integration.kafka.broker import (
    GroupProbe,
    TopicProbe,
    create_topics,
    kafka_options,
    publish,
    unique,
)
from tests.support import wait_until

pytestmark = pytest.mark.kafka

PARTITIONS = 3
PER_PARTITION = 10


def waiting_offset(partition: int) -> int:
    """The offset of the one message of ``partition`` that stays in flight."""
    return 2 + 2 * partition


def payload(partition: int, offset: int) -> bytes:
    if offset == waiting_offset(partition):
        kind = "wait"
    elif (partition, offset) == (0, 0):
        kind = "poison"
    else:
        kind = "ok"
    return f"{kind}-{partition}-{offset}".encode()


class Holding(Handler):
    """``wait`` messages go to a batch that only the drain closes; ``poison`` fails."""

    def handle_message(self, message: Message) -> Message:
        kind = message.data.split(b"-")[0]
        if kind == b"poison":
            raise PoisonMessageError(f"poison {message.data.decode()}")
        if kind == b"wait":
            return message.put_batcher("slow")
        return message

    def handle_batch(self, batcher: str, messages: list[Message], info: BatchInfo) -> list[Message]:
        return messages


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


async def scrape(client: aiohttp.ClientSession, server: Server) -> dict[str, list[Any]]:
    async with client.get(server.url + "/metrics") as response:
        text = await response.text()
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


async def status(client: aiohttp.ClientSession, server: Server) -> dict[str, Any]:
    async with client.get(server.url + "/status") as response:
        document: dict[str, Any] = await response.json()
        return document


async def test_partition_lag_matches_the_broker_and_status_shows_the_failure(
    client: aiohttp.ClientSession,
) -> None:
    topic, group = unique("lag"), unique("lag-group")
    retry_topic, dead_topic = f"{topic}.retry", f"{topic}.dlq"
    await create_topics([topic, retry_topic, dead_topic], PARTITIONS)
    for partition in range(PARTITIONS):
        sent = [payload(partition, offset) for offset in range(PER_PARTITION)]
        placed = await publish(topic, sent, partition=partition)
        assert [o for _, o in placed] == list(range(PER_PARTITION)), "a fresh topic"
    options = kafka_options(topic, group, retry_topic=retry_topic, dead_letter_topic=dead_topic)
    key = ordering_key(options)
    pipeline = Pipeline(
        "lagging",
        Holding(),
        ProducerOptions(producer_factory(options, demand=20)),
        ProcessorOptions(concurrency=3, max_demand=5, partition_by=key),
        [BatcherOptions("slow", batch_size=1000, batch_timeout=300, partition_by=key)],
        shutdown=ShutdownOptions(drain_timeout=10),
    )
    server = await serve(pipeline, host="127.0.0.1", port=0, stall_window=600, admin=False)
    ends_probe, group_probe = TopicProbe([topic]), GroupProbe(group)
    await ends_probe.start()
    await group_probe.start()
    partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    try:
        await pipeline.start()
        expected = {str(p): PER_PARTITION - waiting_offset(p) for p in range(PARTITIONS)}
        lags: dict[str, float] = {}

        async def exposed_lags_settled() -> bool:
            families = await scrape(client, server)
            lags.clear()
            for sample in families.get("broadway_partition_lag_messages", []):
                if sample.labels["source"] == topic:
                    assert sample.labels["pipeline"] == "lagging"
                    lags[sample.labels["partition"]] = sample.value
            return lags == expected

        await wait_until(exposed_lags_settled, 60, f"the lag per partition to be {expected}")
        # What the broker says: its end offsets minus the group's committed offsets.
        ends = await ends_probe.end_offsets()
        committed = await group_probe.committed(partitions)
        at_broker = {str(tp.partition): ends[tp] - committed[tp] for tp in partitions}
        assert at_broker == expected
        assert {p: int(v) for p, v in lags.items()} == at_broker

        document = await status(client, server)
        assert document["partition_lag"][topic] == expected
        ages = document["oldest_in_flight_age_by_producer"]
        assert list(ages) == ["producer_0"]
        assert ages["producer_0"] > 0, "the waiting messages are in flight"
        families = await scrape(client, server)
        (age,) = families["broadway_producer_oldest_in_flight_age_seconds"]
        assert age.labels["producer"] == "default"
        assert age.value > 0
        (failure,) = document["recent_failures"]
        assert failure["reason"] == f"PoisonMessageError: poison {payload(0, 0).decode()}"
        assert failure["decision"] == "dead_letter"
        assert failure["delay"] == 0.0
        assert failure["message_id"] == f"{topic}/0/0"
        assert failure["stage"] == "processor"
        assert failure["at"] > 1_600_000_000
    finally:
        await pipeline.stop()
        await server.close()
        await ends_probe.stop()
        await group_probe.stop()
