"""The server stops and starts again mid-stream: the pipeline reconnects, loses nothing,
and the outage reads as one log line per event.

Both tests stop the RabbitMQ application of a private node (never the shared
server): ``stop_app`` closes every connection with CONNECTION_FORCED and
refuses new ones until ``start_app``.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest

from broadway_py import Message, Pipeline
from broadway_py.connectors.rabbitmq import RabbitMQProducer
from broadway_py.telemetry import AcksDropped, ProducerConnected
from tests.broker_scripts import RabbitMQNode
from tests.integration.rabbitmq.support import Broker, Events, pipeline_on
from tests.support import payloads, wait_until

pytestmark = pytest.mark.rabbitmq

PATIENCE = 60.0
PREFETCH = 40


@dataclass
class Outage:
    """What a test inspects after the outage: the pipeline is still running."""

    queue: str
    sent: list[bytes]
    succeeded: list[bytes]
    pipeline: Pipeline
    events: Events
    producer: RabbitMQProducer


@asynccontextmanager
async def outage_mid_stream(
    node: RabbitMQNode, broker: Broker, name: str, count: int
) -> AsyncIterator[Outage]:
    """``count`` messages; the node's app stops and starts while 4 processors hold work.

    After 200 messages each handler waits until the loss is noticed; yields
    once every message is done, with the pipeline still running.
    """
    queue = broker.name(name)
    await broker.declare(queue)  # durable, and the messages are persistent
    sent = payloads(count, name)
    await broker.publish(queue, sent)
    released = asyncio.Event()
    succeeded: list[bytes] = []

    async def handle(message: Message) -> Message:
        if len(succeeded) >= 200 and not released.is_set():
            await released.wait()  # hold work in flight while the server goes down
        succeeded.append(message.data)
        return message

    pipeline, events = pipeline_on(node, queue, handle, prefetch_count=PREFETCH)
    async with pipeline:
        (producer,) = pipeline.producers
        assert isinstance(producer, RabbitMQProducer)
        await wait_until(lambda: len(succeeded) >= 200, PATIENCE, "200 messages done")
        try:
            await node.ctl("stop_app")
            await wait_until(lambda: not producer.connected, PATIENCE, "the loss to be noticed")
            assert ProducerConnected(True) in events.of(ProducerConnected)
            assert events.of(ProducerConnected)[-1].connected is False
        finally:
            released.set()  # what was in flight finishes; its acks have no channel to go to
            await node.ctl("start_app")
            await broker.reconnect()
        await wait_until(lambda: set(succeeded) == set(sent), PATIENCE, "every message done")
        yield Outage(queue, sent, succeeded, pipeline, events, producer)


async def test_a_server_restart_mid_stream_loses_nothing(
    private_node: RabbitMQNode, private_broker: Broker
) -> None:
    broker = private_broker
    async with outage_mid_stream(private_node, broker, "restart", 1000) as outage:
        queue, events, producer = outage.queue, outage.events, outage.producer

        async def drained() -> bool:
            return await broker.held(queue) == 0

        await wait_until(drained, PATIENCE, "the queue to be empty")
        # An ack sent twice (or for an unknown delivery tag) makes the broker close the
        # channel with PRECONDITION_FAILED: no connection was lost for that reason.
        reasons = [e.reason for e in events.of(ProducerConnected) if not e.connected]
        assert not [r for r in reasons if "PRECONDITION" in r or "delivery tag" in r], reasons
        assert any("CONNECTION_FORCED" in r for r in reasons), reasons
        assert producer.connects >= 2
        assert outage.pipeline.restarts == 0
        dropped = sum(e.count for e in events.of(AcksDropped))
        assert dropped == producer.acknowledger.stats.dropped
        assert 1 <= dropped <= PREFETCH
    duplicates = len(outage.succeeded) - len(set(outage.succeeded))
    # Only what was unacknowledged when the server stopped is processed twice.
    assert dropped <= duplicates <= PREFETCH


async def test_an_outage_reads_as_one_line_per_event(
    private_node: RabbitMQNode, private_broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with outage_mid_stream(private_node, private_broker, "outage", 400) as outage:
        events, producer = outage.events, outage.producer
        stats = producer.acknowledger.stats
        assert stats.dropped >= 4, "each of the 4 processors held work when the server stopped"
    records = caplog.records
    lines = [r.getMessage() for r in records]
    assert not [r for r in records if r.exc_info], "no traceback"
    clients = [r for r in records if r.name.startswith(("aiormq", "aio_pika"))]
    assert not [r for r in clients if r.levelno >= logging.INFO], [r.getMessage() for r in clients]
    assert len([line for line in lines if line.startswith("lost RabbitMQ")]) == 1, lines
    attempts = [line for line in lines if "not reachable (attempt" in line]
    downs = [e for e in events.of(ProducerConnected) if not e.connected and e.reason != "closed"]
    failed = len(downs) - 1  # the loss, then one report per failed attempt
    assert len(attempts) == failed, "one line per failed attempt"
    numbers = [int(re.search(r"attempt (\d+)", line)[1]) for line in attempts]  # type: ignore[index]
    assert numbers == list(range(1, failed + 1))
    dropped = [line for line in lines if line.startswith("dropped ")]
    assert len(dropped) == 1, dropped
    assert dropped[0].startswith(f"dropped {stats.dropped} acks ({stats.dropped} successful)")
    assert "connection lost" in dropped[0]
    assert dropped[0].endswith("the broker redelivers them")
    reported = events.of(AcksDropped)
    assert sum(e.count for e in reported) == stats.dropped
    assert sum(e.successful for e in reported) == stats.dropped, "each counted by its outcome"
