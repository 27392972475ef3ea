"""FIFO queues: each MessageGroupId's messages are handled in the order they were sent."""

from __future__ import annotations

import asyncio
import random

import pytest

from broadway_py import Message, Pipeline, ProcessorOptions, ProducerOptions, RetryPolicy
from broadway_py.connectors.sqs import Options, ordering_key, producer_factory
from tests.integration.sqs.helpers import ENDPOINT, Client, Queues, publish, remaining
from tests.support import wait_until

pytestmark = pytest.mark.sqs

GROUPS = ("a", "b", "c")
PER_GROUP = 15


async def _publish_groups(sqs: Client, url: str) -> dict[str, list[str]]:
    sent = {g: [f"{g}-{i:02d}" for i in range(PER_GROUP)] for g in GROUPS}
    # Interleave the groups in batches so several groups are in flight at once.
    for start in range(0, PER_GROUP, 5):
        for group in GROUPS:
            await publish(sqs, url, sent[group][start : start + 5], group=group)
    return sent


def _options(url: str, **extra: object) -> Options:
    settings: dict[str, object] = {
        "queue_url": url,
        "endpoint_url": ENDPOINT,
        "backlog_interval": 0,
        "wait_time_seconds": 1,
        # moto answers concurrent receives on one FIFO queue without locking, and can
        # then hand out a group's next message while the previous one is in flight
        # (real SQS does not); one receive at a time keeps the test about our side.
        "max_concurrent_receives": 1,
    }
    settings.update(extra)
    return Options.model_validate(settings)


async def test_each_group_is_handled_in_order(sqs: Client, queues: Queues) -> None:
    url = await queues.create("fifo", fifo=True)
    sent = await _publish_groups(sqs, url)
    handled: dict[str, list[str]] = {g: [] for g in GROUPS}
    rng = random.Random(5)

    async def handle(message: Message) -> Message:
        await asyncio.sleep(rng.random() / 200)  # sleep-ok: handlers finish out of order
        body = message.data.decode()
        handled[message.metadata["message_group_id"]].append(body)
        return message

    options = _options(url)
    assert options.is_fifo
    pipeline = Pipeline(
        "sqs-fifo",
        handle,
        ProducerOptions(producer_factory(options, demand=30)),
        ProcessorOptions(concurrency=3, max_demand=10, partition_by=ordering_key(options)),
    )
    async with pipeline:
        await wait_until(
            lambda: sum(map(len, handled.values())) >= len(GROUPS) * PER_GROUP, 60, "all handled"
        )
        await wait_until(lambda: _empty(sqs, url), 30, "the queue empty")
    assert handled == sent


async def test_a_retried_message_keeps_its_place_in_its_group(sqs: Client, queues: Queues) -> None:
    url = await queues.create("fifo-retry", fifo=True)
    sent = await _publish_groups(sqs, url)
    succeeded: dict[str, list[str]] = {g: [] for g in GROUPS}
    failures = 0

    def handle(message: Message) -> Message:
        nonlocal failures
        body = message.data.decode()
        if int(body[-2:]) % 4 == 0 and message.attempt == 1:
            failures += 1
            raise RuntimeError("first attempt fails")
        succeeded[message.metadata["message_group_id"]].append(body)
        return message

    # One message per receive: while a group's message waits out its retry, SQS
    # holds the rest of the group back, so the retry cannot be overtaken.
    options = _options(url, max_number_of_messages=1)
    pipeline = Pipeline(
        "sqs-fifo-retry",
        handle,
        ProducerOptions(producer_factory(options, demand=3)),
        ProcessorOptions(concurrency=3, max_demand=1, partition_by=ordering_key(options)),
        retry=RetryPolicy(max_attempts=3, min_delay=0, max_delay=0, jitter=0),
    )
    async with pipeline:
        await wait_until(
            lambda: sum(map(len, succeeded.values())) >= len(GROUPS) * PER_GROUP,
            60,
            "all succeeded",
        )
        await wait_until(lambda: _empty(sqs, url), 30, "the queue empty")
    assert failures == len(GROUPS) * 4  # 00, 04, 08, 12 of each group
    assert succeeded == sent


async def _empty(sqs: Client, url: str) -> bool:
    return await remaining(sqs, url) == 0
