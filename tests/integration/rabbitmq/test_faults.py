"""Faults against the real server: bad settings, an unreachable broker, a cut connection."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable

import pytest

from broadway_py import (
    Message,
    Pipeline,
    PipelineFailed,
    ProcessorOptions,
    ProducerOptions,
    SupervisorOptions,
    Telemetry,
)
from broadway_py.connectors.rabbitmq import RabbitMQProducer, producer_factory
from broadway_py.errors import AuthenticationFailed, ConfigurationError, DestinationNotFound
from broadway_py.telemetry import AcksDropped, BacklogReported, MessagesReceived, ProducerConnected
from tests.fault.proxy import Proxy
from tests.integration.rabbitmq.support import (
    Broker,
    Events,
    broker_port,
    options,
    raw_channel,
    url_via,
)
from tests.support import payloads, wait_until

pytestmark = pytest.mark.rabbitmq

PATIENCE = 30.0
LOGGER = "broadway_py.connectors.rabbitmq"


def record(seen: list[bytes]) -> Callable[[Message], Message]:
    def handle(message: Message) -> Message:
        seen.append(message.data)
        return message

    return handle


def producer_of(pipeline: Pipeline) -> RabbitMQProducer:
    (producer,) = pipeline.producers
    assert isinstance(producer, RabbitMQProducer)
    return producer


async def expect_start_failure(opts_queue: str, error: type[Exception], **fields: object) -> str:
    pipeline = Pipeline(
        "it",
        lambda m: m,
        ProducerOptions(producer_factory(options(opts_queue, **fields), demand=5)),
    )
    with pytest.raises(error) as raised:
        await asyncio.wait_for(pipeline.start(), PATIENCE)
    assert pipeline.state == "failed"
    return str(raised.value)


async def test_wrong_credentials_fail_the_start_naming_the_user(broker: Broker) -> None:
    text = await expect_start_failure(
        broker.name(), AuthenticationFailed, url=url_via(broker_port(), password="wrong")
    )
    assert "refused the credentials of user 'guest'" in text
    assert "wrong" not in text


async def test_a_missing_queue_fails_the_start_naming_it(broker: Broker) -> None:
    queue = broker.name("missing")
    text = await expect_start_failure(queue, DestinationNotFound, declare=None)
    assert f"queue {queue!r} does not exist" in text
    assert await broker.held(queue) == 0, "a passive declare creates nothing"


async def test_a_missing_exchange_fails_the_start_naming_it(broker: Broker) -> None:
    queue = broker.name()
    exchange = f"nowhere.{queue}"
    text = await expect_start_failure(
        queue, DestinationNotFound, bindings=[{"exchange": exchange, "routing_keys": ["k"]}]
    )
    assert f"exchange {exchange!r} does not exist" in text


async def test_a_declaration_unlike_the_queue_is_a_configuration_error(broker: Broker) -> None:
    queue = broker.name()
    await broker.declare(queue)
    text = await expect_start_failure(queue, ConfigurationError, declare={"durable": False})
    assert "inequivalent arg 'durable'" in text


async def test_bindings_route_messages_to_the_queue(broker: Broker) -> None:
    queue = broker.name()
    exchange = f"x.{queue}"
    seen: list[bytes] = []
    opts = options(
        queue,
        bindings=[{"exchange": exchange, "exchange_type": "topic", "routing_keys": ["a.*"]}],
    )
    pipeline = Pipeline("it", record(seen), ProducerOptions(producer_factory(opts, demand=5)))
    async with pipeline:
        channel = await raw_channel(broker.connection)
        try:
            for key in ("a.one", "b.two", "a.three"):
                await channel.basic_publish(key.encode(), exchange=exchange, routing_key=key)
            await wait_until(lambda: sorted(seen) == [b"a.one", b"a.three"], PATIENCE, "routed")
        finally:
            await channel.exchange_delete(exchange)
            await channel.close()


async def test_unreachable_at_start_backs_off_then_connects(
    broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, LOGGER)
    queue = broker.name()
    await broker.declare(queue)
    proxy = Proxy("127.0.0.1", broker_port())  # not listening yet: connections are refused
    opts = options(
        queue,
        url=url_via(proxy.port),
        reconnect={"min_delay": 0.1, "max_delay": 0.4, "jitter": 0.2},
    )
    telemetry = Telemetry("it")
    events = Events(telemetry)
    seen: list[bytes] = []
    pipeline = Pipeline(
        "it",
        record(seen),
        ProducerOptions(producer_factory(opts, demand=10)),
        telemetry=telemetry,
    )
    try:
        await asyncio.wait_for(pipeline.start(), 5.0)
        assert pipeline.state == "running"

        def down() -> list[float]:
            return events.times_of(ProducerConnected, lambda e: not e.connected)

        await wait_until(lambda: len(down()) >= 5, PATIENCE, "five failed attempts")
        assert not producer_of(pipeline).connected
        times = down()
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert all(gap >= 0.07 for gap in gaps), gaps  # min_delay 0.1 with 20% jitter
        assert max(gaps[2:]) <= 0.4 * 1.2 + 1.0, gaps  # capped at max_delay (+ slack)
        failed_attempts = len(down())
        attempts = [r for r in caplog.records if "Connect call failed" in r.getMessage()]
        assert len(attempts) == failed_attempts, "one log line per attempt"
        assert all("not reachable (attempt" in r.getMessage() for r in attempts)
        assert all("Connect call failed" in r.getMessage() for r in attempts)
        assert all("guest:guest" not in r.getMessage() for r in attempts)
        await proxy.start()
        sent = payloads(30, "u")
        await broker.publish(queue, sent)
        await wait_until(lambda: sorted(seen) == sorted(sent), PATIENCE, "all consumed")
        assert events.of(ProducerConnected)[-1] == ProducerConnected(True)
        await pipeline.stop()
    finally:
        await pipeline.kill()
        await proxy.stop()


async def test_a_cut_connection_drops_stale_acks_and_redelivers(broker: Broker) -> None:
    queue = broker.name()
    await broker.declare(queue)
    proxy = Proxy("127.0.0.1", broker_port())
    await proxy.start()
    release = asyncio.Event()
    succeeded: list[tuple[bytes, int, object]] = []

    async def handle(message: Message) -> Message:
        await release.wait()
        succeeded.append((message.data, message.attempt, message.ack_ref))
        return message

    telemetry = Telemetry("it")
    events = Events(telemetry)
    pipeline = Pipeline(
        "it",
        handle,
        ProducerOptions(producer_factory(options(queue, url=url_via(proxy.port)), demand=20)),
        ProcessorOptions(concurrency=2, max_demand=5),
        telemetry=telemetry,
    )
    sent = payloads(40, "c")
    try:
        async with pipeline:
            producer = producer_of(pipeline)
            await broker.publish(queue, sent)

            def received() -> int:
                return sum(e.count for e in events.of(MessagesReceived))

            await wait_until(lambda: received() >= 10, PATIENCE, "messages in flight")
            await proxy.cut()
            await wait_until(
                lambda: ProducerConnected(True) in events.of(ProducerConnected)[1:],
                PATIENCE,
                "the loss to be noticed and a new connection made",
            )
            release.set()  # the first connection's messages finish; their channel is gone
            await wait_until(
                lambda: {d for d, _, _ in succeeded} == set(sent), PATIENCE, "every message done"
            )

            async def drained() -> bool:
                return await broker.held(queue) == 0

            await wait_until(drained, PATIENCE, "the queue to be empty")
            assert producer.connects == 2
            assert [e.connected for e in events.of(ProducerConnected)] == [True, False, True]
            first_session = succeeded[0][2]
            stale = sum(1 for _, _, session in succeeded if session is first_session)
            assert stale >= 10
            dropped = sum(e.count for e in events.of(AcksDropped))
            assert dropped == producer.acknowledger.stats.dropped == stale
            assert all("session lost" in e.reason for e in events.of(AcksDropped))
            # Every message whose ack was dropped came again, and was acked then.
            assert len(succeeded) == len(sent) + stale
            redone = [d for d, attempt, session in succeeded if session is not first_session]
            assert len(redone) == len(sent)
            assert sum(1 for _, attempt, _ in succeeded if attempt == 2) >= stale
    finally:
        await proxy.stop()


async def test_a_message_held_too_long_is_warned_about(
    broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, LOGGER)
    queue = broker.name()
    await broker.declare(queue)
    await broker.publish(queue, [b"slow"])
    done = asyncio.Event()

    async def handle(message: Message) -> Message:
        await asyncio.sleep(0.6)  # sleep-ok: simulated work past the consumer-timeout warning
        done.set()
        return message

    opts = options(queue, consumer_timeout_warning=0.2, backlog_interval=None)
    pipeline = Pipeline("it", handle, ProducerOptions(producer_factory(opts, demand=5)))
    async with pipeline:
        await asyncio.wait_for(done.wait(), PATIENCE)
        assert producer_of(pipeline).overdue_warnings == 1
    warnings = [
        r.getMessage() for r in caplog.records if "unacknowledged for more" in r.getMessage()
    ]
    assert len(warnings) == 1
    assert "consumer_timeout" in warnings[0]


async def test_the_queue_depth_is_reported_from_the_broker(broker: Broker) -> None:
    queue = broker.name()
    await broker.declare(queue)
    await broker.publish(queue, payloads(50, "b"))
    release = asyncio.Event()

    async def handle(message: Message) -> Message:
        await release.wait()
        return message

    telemetry = Telemetry("it")
    events = Events(telemetry)
    opts = options(queue, prefetch_count=5, backlog_interval=0.05)
    pipeline = Pipeline(
        "it", handle, ProducerOptions(producer_factory(opts, demand=5)), telemetry=telemetry
    )
    async with pipeline:

        def depths() -> list[int]:
            return [e.messages for e in events.of(BacklogReported)]

        await wait_until(lambda: 45 in depths(), PATIENCE, "45 ready (5 prefetched)")
        assert all(e.source == queue for e in events.of(BacklogReported))
        release.set()
        await wait_until(lambda: depths()[-1] == 0, PATIENCE, "an empty queue reported")


async def test_a_queue_deleted_while_running_stops_the_pipeline_naming_it(
    broker: Broker,
) -> None:
    queue = broker.name()
    await broker.declare(queue)
    opts = options(queue, declare=None)  # must exist: a reconnect does not recreate it
    pipeline = Pipeline(
        "it",
        lambda m: m,
        ProducerOptions(producer_factory(opts, demand=5)),
        supervisor=SupervisorOptions(max_restarts=2, max_seconds=30),
    )
    await pipeline.start()
    try:
        channel = await raw_channel(broker.connection, confirms=False)
        await channel.queue_delete(queue, if_unused=False, if_empty=False)
        await channel.close()
        with pytest.raises(PipelineFailed) as failed:
            await asyncio.wait_for(pipeline.wait(), PATIENCE)
        cause = failed.value.__cause__
        assert isinstance(cause, DestinationNotFound)
        assert f"queue {queue!r} does not exist" in str(cause)
        assert pipeline.state == "failed"
    finally:
        await pipeline.kill()
