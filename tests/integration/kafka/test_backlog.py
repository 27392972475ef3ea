"""Consumer lag of partitions that moved to another member stops counting here."""

from __future__ import annotations

import asyncio

import pytest

from broadway_py import Message, Pipeline, ProcessorOptions, ProducerOptions, ShutdownOptions
from broadway_py.connectors.kafka import KafkaProducer, producer_factory
from broadway_py.metrics.stats import PipelineStats
from broadway_py.telemetry import BacklogReported, Telemetry
from tests.integration.kafka.broker import create_topics, kafka_options, publish, unique
from tests.support import payloads, wait_until

pytestmark = pytest.mark.kafka


def kafka_producer(pipeline: Pipeline) -> KafkaProducer:
    (producer,) = pipeline.producers
    assert isinstance(producer, KafkaProducer)
    return producer


async def test_a_member_holding_no_partition_of_a_topic_reports_it_at_zero() -> None:
    topic, group = unique("backlog"), unique("backlog-group")
    await create_topics([topic], 1)
    await publish(topic, payloads(20, "b"), partition=0)
    options = kafka_options(topic, group, revoke_timeout=0.5)
    release = asyncio.Event()

    async def handle(message: Message) -> Message:
        await release.wait()  # the first member's lag stays above 0 until it lets go
        return message

    def member(name: str) -> tuple[Pipeline, PipelineStats, list[BacklogReported]]:
        telemetry = Telemetry(name)
        stats = PipelineStats()
        telemetry.subscribe(stats)
        reports: list[BacklogReported] = []
        telemetry.subscribe(lambda e: reports.append(e) if isinstance(e, BacklogReported) else None)
        pipeline = Pipeline(
            name,
            handle,
            ProducerOptions(producer_factory(options, demand=5)),
            ProcessorOptions(concurrency=1, max_demand=5),
            telemetry=telemetry,
            shutdown=ShutdownOptions(drain_timeout=5),
        )
        return pipeline, stats, reports

    first, first_stats, _ = member("first")
    second, second_stats, _ = member("second")
    await first.start()
    try:
        await wait_until(lambda: first_stats.backlog.get(topic, 0) > 0, 30, "the first's lag")
        await second.start()
        retry_topic = options.retry_topic_name
        everything = {(topic, 0), (retry_topic, 0)}  # the pipeline consumes its retry topic too
        await wait_until(
            lambda: (
                kafka_producer(first).tracker.generation >= 2
                and kafka_producer(second).tracker.generation >= 1
                and kafka_producer(first).assignment() | kafka_producer(second).assignment()
                == everything
            ),
            30,
            "the rebalance to finish",
        )
        holds = (topic, 0) in kafka_producer(first).assignment()
        idle, idle_stats = (second, second_stats) if holds else (first, first_stats)
        assert (topic, 0) not in kafka_producer(idle).assignment()
        # The member without a partition of the topic reports it at 0, so the lag it may
        # have reported for the partition before it moved no longer counts in its backlog.
        await wait_until(lambda: idle_stats.backlog.get(topic) == 0, 10, "the idle member's 0")
    finally:
        release.set()
        await second.stop()
        await first.stop()
