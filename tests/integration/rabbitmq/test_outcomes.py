"""Outcomes against the real server: exact counts of acks, retries and dead letters."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from broadway_py import (
    Message,
    Pipeline,
    PoisonMessageError,
    ProcessorOptions,
    ProducerOptions,
    RetryPolicy,
    Telemetry,
)
from broadway_py.connectors.rabbitmq import RabbitMQProducer, producer_factory
from broadway_py.connectors.rabbitmq.copies import ATTEMPTS_HEADER, REASON_HEADER
from broadway_py.telemetry import AcksDropped, MessagesAcked
from tests.integration.rabbitmq.support import Broker, Events, options
from tests.support import payloads, wait_until

pytestmark = pytest.mark.rabbitmq

PATIENCE = 30.0


def acked_totals(events: Events) -> Counter[str]:
    totals: Counter[str] = Counter()
    for event in events.of(MessagesAcked):
        totals.update(
            successful=event.successful,
            retried=event.retried,
            dead_lettered=event.dead_lettered,
            discarded=event.discarded,
        )
    return totals


def producer_of(pipeline: Pipeline) -> RabbitMQProducer:
    (producer,) = pipeline.producers
    assert isinstance(producer, RabbitMQProducer)
    return producer


async def test_injected_failures_end_with_exact_outcome_counts(broker: Broker) -> None:
    queue = broker.name()
    await broker.declare(queue)
    sent = payloads(200)
    await broker.publish(queue, sent)
    succeeded: list[tuple[bytes, int]] = []

    def handle(message: Message) -> Message:
        kind = int(message.data.split(b"-")[1]) % 10
        if kind == 0:
            raise RuntimeError("always fails")
        if kind == 1 and message.attempt == 1:
            raise RuntimeError("fails once")
        if kind == 2:
            raise PoisonMessageError("poison")
        succeeded.append((message.data, message.attempt))
        return message

    telemetry = Telemetry("it")
    events = Events(telemetry)
    pipeline = Pipeline(
        "it",
        handle,
        ProducerOptions(producer_factory(options(queue), demand=40)),
        ProcessorOptions(concurrency=4, max_demand=10),
        retry=RetryPolicy(max_attempts=3, min_delay=0.05, max_delay=0.05, jitter=0),
        telemetry=telemetry,
    )
    async with pipeline:

        def settled() -> bool:
            totals = acked_totals(events)
            return totals["successful"] + totals["dead_lettered"] >= len(sent)

        await wait_until(settled, PATIENCE, "every message to reach its final outcome")

        async def drained() -> bool:
            return await broker.held(queue) == 0

        await wait_until(drained, PATIENCE, "the queue and its delay queues to be empty")
        stats = producer_of(pipeline).acknowledger.stats
    assert acked_totals(events) == {
        "successful": 160,
        "retried": 40 + 20,
        "dead_lettered": 20 + 20,
        "discarded": 0,
    }
    index = {p: int(p.split(b"-")[1]) % 10 for p in sent}
    assert sorted(succeeded) == sorted(
        (p, 2 if index[p] == 1 else 1) for p in sent if index[p] not in (0, 2)
    )
    dead = await broker.get_all(f"{queue}.dlq")
    assert sorted(m.body for m in dead) == sorted(p for p in sent if index[p] in (0, 2))
    for letter in dead:
        headers: dict[str, Any] = dict(letter.header.properties.headers or {})
        if index[letter.body] == 0:
            assert (headers[ATTEMPTS_HEADER], headers[REASON_HEADER]) == (
                3,
                "RuntimeError: always fails",
            )
        else:
            assert (headers[ATTEMPTS_HEADER], headers[REASON_HEADER]) == (
                1,
                "PoisonMessageError: poison",
            )
        assert letter.header.properties.delivery_mode == 2
    assert (stats.delayed, stats.dead_lettered, stats.publish_failures, stats.dropped) == (
        60,
        40,
        0,
        0,
    )
    assert events.of(AcksDropped) == []


@pytest.mark.parametrize("queue_type", ["classic", "quorum"])
async def test_immediate_retries_keep_counting_attempts(broker: Broker, queue_type: str) -> None:
    """retry(0) is a requeue; on a classic queue the attempt survives a second requeue too."""
    queue = broker.name()
    arguments = {"x-queue-type": queue_type}
    await broker.declare(queue, **arguments)
    sent = payloads(20, "z")
    await broker.publish(queue, sent)
    seen: list[tuple[bytes, int]] = []

    def handle(message: Message) -> Message:
        seen.append((message.data, message.attempt))
        if message.attempt < 4:
            raise RuntimeError("not yet")
        return message

    declare = {"durable": True, "arguments": arguments}
    pipeline = Pipeline(
        "it",
        handle,
        ProducerOptions(producer_factory(options(queue, declare=declare), demand=10)),
        ProcessorOptions(concurrency=2, max_demand=5),
        retry=RetryPolicy(max_attempts=4, min_delay=0, max_delay=0, jitter=0),
    )
    async with pipeline:
        await wait_until(lambda: len(seen) >= 4 * len(sent), PATIENCE, "four attempts each")

        async def drained() -> bool:
            return await broker.held(queue) == 0

        await wait_until(drained, PATIENCE, "the queue to be empty")
    attempts: dict[bytes, list[int]] = {}
    for data, attempt in seen:
        attempts.setdefault(data, []).append(attempt)
    assert attempts == {p: [1, 2, 3, 4] for p in sent}
    assert await broker.read(f"{queue}.dlq") == []


async def test_discarded_failures_are_acked_and_gone(broker: Broker) -> None:
    queue = broker.name()
    await broker.declare(queue)
    sent = payloads(30, "x")
    await broker.publish(queue, sent)
    telemetry = Telemetry("it")
    events = Events(telemetry)

    def handle(message: Message) -> Message:
        if int(message.data.split(b"-")[1]) % 2:
            raise ValueError("odd")
        return message

    pipeline = Pipeline(
        "it",
        handle,
        ProducerOptions(producer_factory(options(queue), demand=10)),
        retry=RetryPolicy(max_attempts=1, dead_letter=False),
        telemetry=telemetry,
    )
    async with pipeline:
        await wait_until(
            lambda: sum(acked_totals(events).values()) >= len(sent), PATIENCE, "all acked"
        )

        async def drained() -> bool:
            return await broker.held(queue) == 0

        await wait_until(drained, PATIENCE, "the queue to be empty")
    assert acked_totals(events) == {
        "successful": 15,
        "retried": 0,
        "dead_lettered": 0,
        "discarded": 15,
    }
    assert await broker.read(f"{queue}.dlq") == []


async def test_reject_strategy_uses_the_queue_dead_letter_exchange(broker: Broker) -> None:
    queue = broker.name()
    parked = broker.name("parked")
    arguments = {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": parked}
    await broker.declare(parked)
    await broker.declare(queue, **arguments)
    sent = payloads(10, "j")
    await broker.publish(queue, sent)
    opts = options(
        queue,
        declare={"durable": True, "arguments": arguments},
        dead_letter={"strategy": "reject"},
    )
    pipeline = Pipeline(
        "it",
        lambda m: m.failed("rejected on purpose"),
        ProducerOptions(producer_factory(opts, demand=10)),
        retry=RetryPolicy(max_attempts=1),
    )
    async with pipeline:

        async def parked_all() -> bool:
            return len(await broker.read(parked)) == len(sent)

        await wait_until(parked_all, PATIENCE, "every message in the parking queue")
    letters = await broker.get_all(parked)
    assert sorted(m.body for m in letters) == sorted(sent)
    for letter in letters:
        deaths: Any = (letter.header.properties.headers or {})["x-death"]
        (death,) = deaths
        assert (death["queue"], death["reason"], death["count"]) == (queue, "rejected", 1)
    assert await broker.held(queue) == 0
