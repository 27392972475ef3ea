"""Dead letters left to the queue's RedrivePolicy (maxReceiveCount)."""

from __future__ import annotations

from collections import Counter

import pytest

from broadway_py import (
    Message,
    Pipeline,
    PoisonMessageError,
    ProcessorOptions,
    ProducerOptions,
    RetryPolicy,
)
from broadway_py.connectors.sqs import Options, SqsProducer, producer_factory
from tests.integration.sqs.helpers import ENDPOINT, Client, DeadLetters, Queues, publish, remaining
from tests.support import wait_until

pytestmark = pytest.mark.sqs

MAX_RECEIVES = 3


async def test_redrive_moves_what_keeps_failing_and_poison_is_handled_once(
    sqs: Client, queues: Queues
) -> None:
    dead_letter = await queues.create("redrive-dlq")
    source = await queues.create("redrive", redrive_to=dead_letter, max_receive_count=MAX_RECEIVES)
    ok = [f"ok-{i}" for i in range(10)]
    failing = [f"fail-{i}" for i in range(5)]
    poison = [f"poison-{i}" for i in range(5)]
    await publish(sqs, source, ok + failing + poison)
    handled: Counter[str] = Counter()
    attempts: dict[str, list[int]] = {}

    def handle(message: Message) -> Message:
        body = message.data.decode()
        handled[body] += 1
        attempts.setdefault(body, []).append(message.attempt)
        if body.startswith("fail"):
            raise RuntimeError("keeps failing")
        if body.startswith("poison"):
            raise PoisonMessageError("never retried")
        return message

    options = Options(
        queue_url=source, endpoint_url=ENDPOINT, dead_letter="redrive", backlog_interval=0
    )
    pipeline = Pipeline(
        "sqs-redrive",
        handle,
        ProducerOptions(producer_factory(options, demand=10)),
        ProcessorOptions(concurrency=2, max_demand=5),
        retry=RetryPolicy(max_attempts=MAX_RECEIVES, min_delay=0, max_delay=0, jitter=0),
    )
    letters = DeadLetters(sqs, dead_letter)

    async def all_moved() -> bool:
        return len(await letters.collect()) >= len(failing) + len(poison)

    async with pipeline:
        await wait_until(all_moved, 60, "SQS to move every dead letter to the DLQ")
        await wait_until(lambda: _empty(sqs, source), 30, "the source queue empty")
        producer = pipeline.producers[0]
    assert isinstance(producer, SqsProducer)
    assert letters.bodies() == sorted(failing + poison)
    assert all(handled[b] == 1 for b in ok)
    # What keeps failing is handled until maxReceiveCount, poison only once: the
    # producer releases it again without handling until SQS moves it.
    assert {b: attempts[b] for b in failing} == {b: [1, 2, 3] for b in failing}
    assert {b: attempts[b] for b in poison} == {b: [1] for b in poison}
    assert producer.stats.redeliveries_released >= len(poison)


async def _empty(sqs: Client, url: str) -> bool:
    return await remaining(sqs, url) == 0
