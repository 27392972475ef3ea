"""Rebalances and back-pressure against the real broker."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Any

import pytest
from aiokafka import TopicPartition

from broadway_py import Message, Pipeline, ProcessorOptions, ProducerOptions, ShutdownOptions
from broadway_py.connectors.kafka import KafkaProducer, Options, ordering_key, producer_factory
from broadway_py.telemetry import AcksDropped, Telemetry
from tests.integration.kafka.broker import (
    GroupProbe,
    create_topics,
    kafka_options,
    publish,
    unique,
)
from tests.support import payloads, wait_until

pytestmark = pytest.mark.kafka


def pipeline_of(
    name: str, options: Options, handler: Any, processors: ProcessorOptions, **extra: Any
) -> Pipeline:
    return Pipeline(
        name,
        handler,
        ProducerOptions(producer_factory(options, demand=10)),
        processors,
        shutdown=ShutdownOptions(drain_timeout=20),
        **extra,
    )


def kafka_producer(pipeline: Pipeline) -> KafkaProducer:
    (producer,) = pipeline.producers
    assert isinstance(producer, KafkaProducer)
    return producer


async def test_a_revoke_waits_for_in_flight_messages_then_drops_late_acks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "broadway_py.connectors.kafka")
    topic, group = unique("revoke"), unique("revoke-group")
    await create_topics([topic], 2)
    options = kafka_options(topic, group, revoke_timeout=1.5)
    handled: Counter[bytes] = Counter()
    release = asyncio.Event()

    async def handle(message: Message) -> Message:
        handled[message.data] += 1
        if message.data == b"quick":
            await asyncio.sleep(0.3)  # sleep-ok: finishes while the revoke waits
        elif message.data == b"stuck" and handled[b"stuck"] == 1:
            await release.wait()  # outlives the revoke
        return message

    dropped: list[AcksDropped] = []
    telemetry = Telemetry("first")
    telemetry.subscribe(lambda e: dropped.append(e) if isinstance(e, AcksDropped) else None)
    # One message per chunk, on any free processor: the stuck one holds only its own.
    processors = ProcessorOptions(concurrency=3, max_demand=1)
    first = pipeline_of("first", options, handle, processors, telemetry=telemetry)
    second = pipeline_of("second", options, handle, processors)
    await first.start()
    try:
        await wait_until(lambda: len(kafka_producer(first).assignment()) == 4, 30, "first joined")
        await publish(topic, [b"stuck"], partition=0)
        await publish(topic, [b"quick"], partition=1)
        await wait_until(
            lambda: handled[b"stuck"] > 0 and handled[b"quick"] > 0, 20, "both in flight"
        )
        await second.start()
        await wait_until(
            lambda: (
                bool(kafka_producer(second).assignment())
                and kafka_producer(first).tracker.generation >= 2
            ),
            30,
            "the rebalance to finish",
        )
        revoked = [
            r.getMessage() for r in caplog.records if "revoked 4 partitions" in r.getMessage()
        ]
        assert revoked, "the first member revoked its partitions"
        assert "1 in-flight messages are left to the next owner" in revoked[0]
        release.set()
        await wait_until(lambda: handled[b"stuck"] == 2, 30, "the stuck message redelivered")
        await wait_until(lambda: bool(dropped), 10, "the late ack dropped")
        probe = GroupProbe(group)
        await probe.start()
        try:
            tps = [TopicPartition(topic, 0), TopicPartition(topic, 1)]
            await wait_until(
                lambda: _committed_is(probe, tps, {tps[0]: 1, tps[1]: 1}), 10, "both committed"
            )
        finally:
            await probe.stop()
    finally:
        release.set()
        await second.stop()
        await first.stop()
    # The quick message finished within the wait: committed on revoke, never redelivered.
    assert handled[b"quick"] == 1
    assert dropped[0].count == 1
    assert "revoked" in dropped[0].reason


async def _committed_is(
    probe: GroupProbe, tps: list[TopicPartition], expected: dict[TopicPartition, int]
) -> bool:
    return await probe.committed(tps) == expected


async def test_a_slow_pipeline_pauses_its_partitions_and_stays_in_the_group(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "broadway_py.connectors.kafka")
    topic, group = unique("slow"), unique("slow-group")
    await create_topics([topic], 2)
    # A member that does not poll for max_poll_interval_ms leaves its group: the stall
    # below is twice as long; the connector pauses its partitions and keeps polling.
    options = kafka_options(
        topic, group, max_poll_interval_ms=1500, pause_after=0.3, max_poll_records=10
    )
    sent = payloads(200, "s")
    await publish(topic, sent)
    handled: Counter[bytes] = Counter()
    stall = asyncio.Event()

    async def handle(message: Message) -> Message:
        handled[message.data] += 1
        if not stall.is_set():
            await asyncio.sleep(3.5)  # sleep-ok: simulated work longer than max_poll_interval
            stall.set()
        return message

    processors = ProcessorOptions(concurrency=2, max_demand=5, partition_by=ordering_key(options))
    pipeline = pipeline_of("slow", options, handle, processors)
    async with pipeline:
        producer = kafka_producer(pipeline)
        await wait_until(lambda: bool(producer.paused()), 20, "partitions paused")
        generation = producer.tracker.generation
        await wait_until(stall.is_set, 20, "the stall to end")
        await wait_until(lambda: set(handled) == set(sent), 30, "everything handled")
        assert producer.tracker.generation == generation, "no rebalance happened"
        assert not producer.paused()
    assert all(count == 1 for count in handled.values())
    assert not any("revoked" in r.getMessage() for r in caplog.records)
    assert any("partitions paused" in r.getMessage() for r in caplog.records)
