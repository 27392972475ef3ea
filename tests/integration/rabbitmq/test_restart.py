"""The server stops and starts again mid-stream: the pipeline reconnects, loses nothing."""

from __future__ import annotations

import asyncio

import pytest

from broadway_py import Message, Pipeline, ProcessorOptions, ProducerOptions, Telemetry
from broadway_py.connectors.rabbitmq import RabbitMQProducer, producer_factory
from broadway_py.telemetry import AcksDropped, ProducerConnected
from tests.integration.rabbitmq.support import Broker, Events, ctl, options
from tests.support import payloads, wait_until

pytestmark = pytest.mark.rabbitmq

PATIENCE = 60.0
PREFETCH = 40


async def test_a_server_restart_mid_stream_loses_nothing(broker: Broker) -> None:
    queue = broker.name("restart")
    await broker.declare(queue)  # durable, and the messages are persistent
    sent = payloads(1000, "r")
    await broker.publish(queue, sent)
    released = asyncio.Event()
    succeeded: list[bytes] = []

    async def handle(message: Message) -> Message:
        if len(succeeded) >= 200 and not released.is_set():
            await released.wait()  # hold work in flight while the server goes down
        succeeded.append(message.data)
        return message

    telemetry = Telemetry("it")
    events = Events(telemetry)
    opts = options(queue, prefetch_count=PREFETCH, reconnect={"min_delay": 0.2, "max_delay": 1.0})
    pipeline = Pipeline(
        "it",
        handle,
        ProducerOptions(producer_factory(opts, demand=20)),
        ProcessorOptions(concurrency=4, max_demand=5),
        telemetry=telemetry,
    )
    async with pipeline:
        (producer,) = pipeline.producers
        assert isinstance(producer, RabbitMQProducer)
        await wait_until(lambda: len(succeeded) >= 200, PATIENCE, "200 messages done")
        try:
            await ctl("stop_app")
            await wait_until(lambda: not producer.connected, PATIENCE, "the loss to be noticed")
            assert ProducerConnected(True) in events.of(ProducerConnected)
            assert events.of(ProducerConnected)[-1].connected is False
        finally:
            released.set()  # what was in flight finishes; its acks have no channel to go to
            await ctl("start_app")
        await wait_until(lambda: set(succeeded) == set(sent), PATIENCE, "every message done")

        async def drained() -> bool:
            return await broker.held(queue) == 0

        await wait_until(drained, PATIENCE, "the queue to be empty")
        # An ack sent twice (or for an unknown delivery tag) makes the broker close the
        # channel with PRECONDITION_FAILED: no connection was lost for that reason.
        reasons = [e.reason for e in events.of(ProducerConnected) if not e.connected]
        assert not [r for r in reasons if "PRECONDITION" in r or "delivery tag" in r], reasons
        assert any("CONNECTION_FORCED" in r for r in reasons), reasons
        assert producer.connects >= 2
        assert pipeline.restarts == 0
        dropped = sum(e.count for e in events.of(AcksDropped))
        assert dropped == producer.acknowledger.stats.dropped
        assert 1 <= dropped <= PREFETCH
    duplicates = len(succeeded) - len(set(succeeded))
    # Only what was unacknowledged when the server stopped is processed twice.
    assert dropped <= duplicates <= PREFETCH
