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

import pytest

from broadway_py import Message, Pipeline, ProcessorOptions, ProducerOptions, Telemetry
from broadway_py.connectors.rabbitmq import RabbitMQProducer, producer_factory
from broadway_py.telemetry import AcksDropped, ProducerConnected
from tests.integration.rabbitmq.private import PrivateNode
from tests.integration.rabbitmq.support import Broker, Events, options
from tests.support import payloads, wait_until

pytestmark = pytest.mark.rabbitmq

PATIENCE = 60.0
PREFETCH = 40


def held_pipeline(
    node: PrivateNode, queue: str, released: asyncio.Event, succeeded: list[bytes]
) -> tuple[Pipeline, Events]:
    """4 processors; after 200 messages each handler waits for ``released``."""

    async def handle(message: Message) -> Message:
        if len(succeeded) >= 200 and not released.is_set():
            await released.wait()  # hold work in flight while the server goes down
        succeeded.append(message.data)
        return message

    telemetry = Telemetry("it")
    events = Events(telemetry)
    opts = options(
        queue,
        url=node.url,
        prefetch_count=PREFETCH,
        reconnect={"min_delay": 0.2, "max_delay": 1.0},
        backlog_interval=None,
    )
    pipeline = Pipeline(
        "it",
        handle,
        ProducerOptions(producer_factory(opts, demand=20)),
        ProcessorOptions(concurrency=4, max_demand=5),
        telemetry=telemetry,
    )
    return pipeline, events


async def restart_with_work_in_flight(
    node: PrivateNode,
    broker: Broker,
    pipeline: Pipeline,
    events: Events,
    released: asyncio.Event,
    succeeded: list[bytes],
) -> RabbitMQProducer:
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
    return producer


async def test_a_server_restart_mid_stream_loses_nothing(
    private_node: PrivateNode, private_broker: Broker
) -> None:
    broker = private_broker
    queue = broker.name("restart")
    await broker.declare(queue)  # durable, and the messages are persistent
    sent = payloads(1000, "r")
    await broker.publish(queue, sent)
    released = asyncio.Event()
    succeeded: list[bytes] = []
    pipeline, events = held_pipeline(private_node, queue, released, succeeded)
    async with pipeline:
        producer = await restart_with_work_in_flight(
            private_node, broker, pipeline, events, released, succeeded
        )
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


async def test_an_outage_reads_as_one_line_per_event(
    private_node: PrivateNode, private_broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    broker = private_broker
    queue = broker.name("outage")
    await broker.declare(queue)
    sent = payloads(400, "o")
    await broker.publish(queue, sent)
    released = asyncio.Event()
    succeeded: list[bytes] = []
    pipeline, events = held_pipeline(private_node, queue, released, succeeded)
    async with pipeline:
        producer = await restart_with_work_in_flight(
            private_node, broker, pipeline, events, released, succeeded
        )
        await wait_until(lambda: set(succeeded) == set(sent), PATIENCE, "every message done")
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
