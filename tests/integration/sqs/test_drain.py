"""Drain: a pending long poll is cancelled at once; what was not started goes back."""

from __future__ import annotations

import asyncio
import time

import pytest

from broadway_py import Message, Pipeline, ProcessorOptions, ProducerOptions, ShutdownOptions
from broadway_py.connectors.sqs import Options, SqsProducer, producer_factory
from tests.integration.sqs.helpers import ENDPOINT, Client, Queues, counts, publish, remaining
from tests.support import wait_until

pytestmark = pytest.mark.sqs

WAIT = 20


async def test_drain_does_not_wait_out_a_long_poll(sqs: Client, queues: Queues) -> None:
    url = await queues.create("drain-poll")
    options = Options(
        queue_url=url, endpoint_url=ENDPOINT, wait_time_seconds=WAIT, backlog_interval=0
    )
    pipeline = Pipeline(
        "sqs-drain-poll", lambda m: m, ProducerOptions(producer_factory(options, demand=10))
    )
    await pipeline.start()
    producer = pipeline.producers[0]
    assert isinstance(producer, SqsProducer)
    await wait_until(lambda: producer.receiving >= 1, 10, "a long poll in flight")
    started = time.monotonic()
    await pipeline.stop()
    elapsed = time.monotonic() - started
    assert pipeline.state == "stopped"
    assert elapsed < 5.0, f"stop() took {elapsed:.1f}s with a {WAIT}s long poll pending"


async def test_drain_finishes_started_work_and_releases_the_rest(
    sqs: Client, queues: Queues
) -> None:
    url = await queues.create("drain-release", visibility_timeout=3)
    sent = [f"d-{i:02d}" for i in range(40)]
    await publish(sqs, url, sent)
    handled: list[bytes] = []
    gate = asyncio.Event()

    async def handle(message: Message) -> Message:
        handled.append(message.data)
        await gate.wait()
        return message

    options = Options(queue_url=url, endpoint_url=ENDPOINT, wait_time_seconds=1, backlog_interval=0)
    pipeline = Pipeline(
        "sqs-drain-release",
        handle,
        ProducerOptions(producer_factory(options, demand=20)),
        ProcessorOptions(concurrency=2, max_demand=10),
        shutdown=ShutdownOptions(drain_timeout=20),
    )
    await pipeline.start()
    producer = pipeline.producers[0]
    assert isinstance(producer, SqsProducer)
    await wait_until(lambda: len(handled) >= 2, 20, "both processors busy")
    stopping = asyncio.create_task(pipeline.stop())
    await wait_until(lambda: pipeline.state == "draining", 5, "the drain started")
    gate.set()
    await asyncio.wait_for(stopping, 20)
    assert pipeline.state == "stopped"
    assert len(pipeline.in_flight) == 0
    # What the handlers saw was finished and deleted; nothing else was lost: the
    # rest is back in the queue (released at close, or after a cancelled poll's
    # visibility timeout).
    assert producer.stats.deleted == len(handled)
    assert len(handled) < len(sent)

    async def rest_visible() -> bool:
        visible, in_flight, _ = await counts(sqs, url)
        return visible == len(sent) - len(handled) and in_flight == 0

    await wait_until(rest_visible, 15, "the unhandled messages visible again")
    assert await remaining(sqs, url) == len(sent) - len(handled)
