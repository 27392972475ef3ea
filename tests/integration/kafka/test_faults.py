"""Faults and bad input: a broker that is not up yet, a missing topic, a bad address, bad login."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from broadway_py import Pipeline, ProcessorOptions, ProducerOptions
from broadway_py.connectors.kafka import KafkaProducer, ordering_key, producer_factory
from broadway_py.errors import AuthenticationFailed, DestinationNotFound
from broadway_py.telemetry import Event, ProducerConnected, Telemetry
from tests.integration.kafka.broker import (
    PrivateBroker,
    create_topics,
    kafka_options,
    publish,
    unique,
)
from tests.support import Recorder, payloads, wait_until

pytestmark = pytest.mark.kafka

LOGGER = "broadway_py.connectors.kafka"


class Connections:
    def __init__(self, telemetry: Telemetry) -> None:
        self.events: list[ProducerConnected] = []
        telemetry.subscribe(self.on_event)

    def on_event(self, event: Event) -> None:
        if isinstance(event, ProducerConnected):
            self.events.append(event)

    def down(self) -> list[ProducerConnected]:
        return [e for e in self.events if not e.connected]


@pytest.fixture
async def private_broker(tmp_path: Path) -> AsyncIterator[PrivateBroker]:
    broker = PrivateBroker(tmp_path)
    try:
        yield broker
    finally:
        await broker.stop()


async def test_a_broker_down_at_start_is_retried_until_it_comes_up(
    private_broker: PrivateBroker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, LOGGER)
    topic, group = unique("late"), unique("late-group")
    options = kafka_options(
        topic,
        group,
        bootstrap=private_broker.bootstrap,
        reconnect={"min_delay": 0.1, "max_delay": 0.4},
    )
    telemetry = Telemetry("late")
    connections = Connections(telemetry)
    recorder = Recorder()
    pipeline = Pipeline(
        "late",
        recorder,
        ProducerOptions(producer_factory(options, demand=20)),
        ProcessorOptions(concurrency=2, max_demand=10, partition_by=ordering_key(options)),
        telemetry=telemetry,
    )
    started = time.monotonic()
    await pipeline.start()  # returns although nothing listens on the port
    assert time.monotonic() - started < 5
    try:
        await wait_until(lambda: len(connections.down()) >= 3, 20, "three failed attempts")
        assert all(private_broker.bootstrap in e.reason for e in connections.down())
        assert not any(e.connected for e in connections.events)
        attempts = [r for r in caplog.records if "cannot connect (attempt" in r.getMessage()]
        assert len(attempts) >= 3
        assert private_broker.bootstrap in attempts[0].getMessage()
        # The waits between attempts grow (capped, jittered): not a busy loop.
        assert len(attempts) < 60
        assert pipeline.state == "running"
        await private_broker.start()
        await create_topics([topic], 2, bootstrap=private_broker.bootstrap)
        sent = payloads(40, "late")
        await publish(topic, sent, bootstrap=private_broker.bootstrap)
        await wait_until(lambda: recorder.payloads() == set(sent), 30, "everything handled")
        assert connections.events[-1].connected
    finally:
        await pipeline.stop()
    assert not connections.events[-1].connected  # closed


async def test_a_missing_topic_fails_the_start_naming_it() -> None:
    missing = unique("no-such-topic")
    options = kafka_options(missing, unique("group"))
    pipeline = Pipeline(
        "missing", Recorder(), ProducerOptions(producer_factory(options, demand=10))
    )
    with pytest.raises(DestinationNotFound) as caught:
        await pipeline.start()
    assert missing in str(caught.value)
    assert options.servers in str(caught.value)
    assert pipeline.state == "failed"


async def test_a_missing_retry_topic_is_an_error_when_it_may_not_be_created() -> None:
    topic = unique("no-retry")
    await create_topics([topic], 1)
    options = kafka_options(topic, unique("group"), create_topics=False)
    producer = KafkaProducer(options)
    with pytest.raises(DestinationNotFound) as caught:
        await producer.start(Telemetry("x"))
    assert options.retry_topic_name in str(caught.value)
    assert "create_topics" in str(caught.value)


async def test_an_unresolvable_bootstrap_server_is_reported_by_name(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, LOGGER)
    options = kafka_options(
        "orders",
        unique("group"),
        bootstrap="broker.invalid:9092",
        reconnect={"min_delay": 0.1, "max_delay": 0.2},
    )
    telemetry = Telemetry("bad")
    connections = Connections(telemetry)
    producer = KafkaProducer(options)
    await producer.start(telemetry)
    try:
        await wait_until(lambda: len(connections.down()) >= 2, 20, "failed attempts reported")
        assert "broker.invalid:9092" in connections.down()[0].reason
        assert any("broker.invalid:9092" in r.getMessage() for r in caplog.records)
        fetching = asyncio.ensure_future(producer.fetch(10))
        await asyncio.sleep(0.2)  # sleep-ok: a bounded window in which fetch must not return
        assert not fetching.done()  # fetch waits meanwhile
        producer.stop_fetching()
        assert await asyncio.wait_for(fetching, 5) == []
    finally:
        await asyncio.wait_for(producer.close(), 10)


async def test_refused_credentials_fail_the_start_naming_the_broker(tmp_path: Path) -> None:
    broker = PrivateBroker(tmp_path, authentication=True)
    await broker.start()
    try:
        options = kafka_options(
            "orders",
            unique("group"),
            bootstrap=broker.bootstrap,
            sasl={"mechanism": "SCRAM-SHA-256", "username": "nobody", "password": "wrong"},
            request_timeout_ms=5000,
        )
        producer = KafkaProducer(options)
        with pytest.raises(AuthenticationFailed) as caught:
            await asyncio.wait_for(producer.start(Telemetry("auth")), 20)
        assert broker.bootstrap in str(caught.value)
        await producer.close()
    finally:
        await broker.stop()


async def test_a_broker_lost_later_is_reported_and_consumption_resumes(
    private_broker: PrivateBroker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, LOGGER)
    await private_broker.start()
    topic, group = unique("lost"), unique("lost-group")
    await create_topics([topic], 2, bootstrap=private_broker.bootstrap)
    options = kafka_options(
        topic,
        group,
        bootstrap=private_broker.bootstrap,
        reconnect={"min_delay": 0.1, "max_delay": 0.5},
        request_timeout_ms=3000,
    )
    telemetry = Telemetry("lost")
    connections = Connections(telemetry)
    recorder = Recorder()
    pipeline = Pipeline(
        "lost",
        recorder,
        ProducerOptions(producer_factory(options, demand=20)),
        ProcessorOptions(concurrency=2, max_demand=10, partition_by=ordering_key(options)),
        telemetry=telemetry,
    )
    async with pipeline:
        producer = pipeline.producers[0]
        assert isinstance(producer, KafkaProducer)
        await wait_until(lambda: bool(producer.assignment()), 30, "the member to join")
        # Nothing is consumed before the crash: the broker comes back empty (in memory),
        # so offsets committed before it would point past the new topic's messages.
        await private_broker.kill()
        await wait_until(lambda: len(connections.down()) >= 2, 30, "the loss reported")
        assert private_broker.bootstrap in connections.down()[-1].reason
        # The in-memory broker comes back empty: the topic is made again.
        await private_broker.start()
        await create_topics([topic], 2, bootstrap=private_broker.bootstrap)
        await wait_until(lambda: connections.events[-1].connected, 30, "reconnected")
        after = payloads(20, "after")
        await publish(topic, after, bootstrap=private_broker.bootstrap)
        await wait_until(lambda: recorder.payloads() >= set(after), 60, "messages after the loss")
    unreachable = [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(unreachable) >= 2
