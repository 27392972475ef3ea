"""Delay queues: declared to survive a restart, and an older declaration kept with a warning.

Against the shared server (no restart here; test_restart_retries.py restarts
a private node).
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from pamqp.commands import Basic

from broadway_py import Message, Pipeline, ProcessorOptions, ProducerOptions, RetryPolicy
from broadway_py.connectors.rabbitmq import producer_factory
from broadway_py.connectors.rabbitmq.delays import delay_arguments
from tests.integration.rabbitmq.support import Broker, options, raw_channel
from tests.support import wait_until

pytestmark = pytest.mark.rabbitmq

PATIENCE = 30.0
LOGGER = "broadway_py.connectors.rabbitmq"
DELAY = 0.1  # 100 ms: bucket 128 ms


def failing_once(seen: list[tuple[bytes, int]]) -> Any:
    def handle(message: Message) -> Message:
        seen.append((message.data, message.attempt))
        if message.attempt == 1:
            raise RuntimeError("first attempt fails")
        return message

    return handle


def pipeline_of(queue: str, handle: Any, **fields: Any) -> Pipeline:
    return Pipeline(
        "it",
        handle,
        ProducerOptions(producer_factory(options(queue, **fields), demand=10)),
        ProcessorOptions(concurrency=2, max_demand=5),
        retry=RetryPolicy(max_attempts=3, min_delay=DELAY, max_delay=DELAY, jitter=0),
    )


async def declared_alike(broker: Broker, queue: str, arguments: dict[str, Any]) -> bool:
    """Whether ``queue`` exists with exactly these arguments (a declare of them succeeds)."""
    channel = await raw_channel(broker.connection, confirms=False)
    try:
        await channel.queue_declare(queue, durable=True, arguments=arguments)
    except Exception:
        return False
    await channel.close()
    return True


async def test_a_delay_queue_is_a_quorum_queue_that_dead_letters_at_least_once(
    broker: Broker,
) -> None:
    queue = broker.name("delays")
    seen: list[tuple[bytes, int]] = []
    async with pipeline_of(queue, failing_once(seen)):
        await broker.publish(queue, [b"a", b"b"])
        await wait_until(
            lambda: sorted(seen) == [(b"a", 1), (b"a", 2), (b"b", 1), (b"b", 2)],
            PATIENCE,
            "both retried once",
        )
    expected = delay_arguments(queue, 128, at_least_once=True)
    assert expected["x-queue-type"] == "quorum"
    assert expected["x-dead-letter-strategy"] == "at-least-once"
    assert expected["x-overflow"] == "reject-publish"
    assert expected["x-message-ttl"] == 128
    assert await declared_alike(broker, f"{queue}.delay.128ms", expected)


async def test_copies_are_persistent_whatever_the_original_was(broker: Broker) -> None:
    queue = broker.name("persist")
    await broker.declare(queue)
    channel = await raw_channel(broker.connection)
    await channel.basic_publish(
        b"transient", routing_key=queue, properties=Basic.Properties(delivery_mode=1)
    )
    seen: list[tuple[bytes, int]] = []

    def always_fails(message: Message) -> Message:
        seen.append((message.data, message.attempt))
        raise RuntimeError("always")

    async with pipeline_of(queue, always_fails):
        await wait_until(lambda: len(seen) == 3, PATIENCE, "three attempts")

        async def dead_lettered() -> bool:
            return len(await broker.get_all(f"{queue}.dlq")) == 1

        await wait_until(dead_lettered, PATIENCE, "the dead letter")
    (dead,) = await broker.get_all(f"{queue}.dlq")
    assert dead.header.properties.delivery_mode == 2
    assert [attempt for _, attempt in seen] == [1, 2, 3]


async def test_an_older_delay_queue_is_used_as_it_is_with_one_warning_saying_what_to_do(
    broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, LOGGER)
    queue = broker.name("legacy")
    legacy = f"{queue}.delay.128ms"
    # What earlier versions declared: a classic queue, per-message TTL, dead-lettering back.
    await broker.declare(legacy, **delay_arguments(queue, None, at_least_once=False))
    seen: list[tuple[bytes, int]] = []
    pipeline = pipeline_of(queue, failing_once(seen))
    async with pipeline:  # the start does not fail
        await broker.publish(queue, [b"a", b"b", b"c"])
        await wait_until(lambda: len(seen) == 6, PATIENCE, "each retried once, through it")
    assert sorted(seen) == [(p, n) for p in (b"a", b"b", b"c") for n in (1, 2)]
    warnings = [
        r.getMessage() for r in caplog.records if "exists with other arguments" in r.getMessage()
    ]
    assert len(warnings) == 1, warnings
    assert repr(legacy) in warnings[0]
    assert "inequivalent arg" in warnings[0]
    assert f"rabbitmqctl delete_queue {legacy} --if-empty" in warnings[0]
    assert "retry.delay_queue" in warnings[0]
    assert await declared_alike(broker, legacy, delay_arguments(queue, None, at_least_once=False))
