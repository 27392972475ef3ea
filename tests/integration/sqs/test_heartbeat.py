"""A handler slower than the visibility timeout gets no second delivery."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from broadway_py import Message, Pipeline, ProcessorOptions, ProducerOptions
from broadway_py.connectors.sqs import Options, SqsProducer, producer_factory
from tests.integration.sqs.helpers import ENDPOINT, Client, Queues, counts, publish, remaining
from tests.support import wait_until

pytestmark = pytest.mark.sqs

VISIBILITY = 4  # seconds; each handler takes HANDLING, more than twice as long
MARGIN = 3.0  # extended with 3 s left, checked every second: 2 s of slack on a busy machine
HANDLING = 9.0


async def _run_slow_pipeline(
    sqs: Client, queues: Queues, heartbeat: bool
) -> tuple[Counter[bytes], SqsProducer, int]:
    source = await queues.create("heartbeat", visibility_timeout=VISIBILITY)
    sent = [f"slow-{i}" for i in range(4)]
    await publish(sqs, source, sent)
    handled: Counter[bytes] = Counter()
    started = asyncio.Event()

    async def slow(message: Message) -> Message:
        handled[message.data] += 1
        if len(handled) == len(sent):
            started.set()
        await asyncio.sleep(HANDLING)  # sleep-ok: simulated slow handling
        return message

    options = Options(
        queue_url=source,
        endpoint_url=ENDPOINT,
        wait_time_seconds=1,
        heartbeat=heartbeat,
        heartbeat_margin=MARGIN,
        backlog_interval=0,
    )
    pipeline = Pipeline(
        "sqs-heartbeat",
        slow,
        ProducerOptions(producer_factory(options, demand=4)),
        # One message per chunk, so the four slow handlers run side by side.
        ProcessorOptions(concurrency=4, max_demand=1),
    )
    visible_seen = 0
    async with pipeline:
        await asyncio.wait_for(started.wait(), 20)
        # While every handler runs, watch the queue: nothing may turn visible.
        loop = asyncio.get_running_loop()
        until = loop.time() + HANDLING - 1
        while loop.time() < until:
            visible, _, _ = await counts(sqs, source)
            visible_seen = max(visible_seen, visible)
            await asyncio.sleep(0.2)  # sleep-ok: sampling interval of an observation window
        await wait_until(
            lambda: _empty(sqs, source), 30, "every message deleted after its slow handling"
        )
        producer = pipeline.producers[0]
    assert isinstance(producer, SqsProducer)
    assert set(handled) == {s.encode() for s in sent}
    return handled, producer, visible_seen


async def test_the_heartbeat_keeps_slow_messages_invisible(sqs: Client, queues: Queues) -> None:
    handled, producer, visible_seen = await _run_slow_pipeline(sqs, queues, heartbeat=True)
    assert all(count == 1 for count in handled.values()), handled
    assert producer.stats.duplicates == 0
    assert visible_seen == 0
    assert producer.stats.extended >= 4  # each message extended at least once


async def test_without_the_heartbeat_slow_messages_are_delivered_again(
    sqs: Client, queues: Queues
) -> None:
    # The control: the same run with the heartbeat off does see second deliveries.
    _, producer, _ = await _run_slow_pipeline(sqs, queues, heartbeat=False)
    assert producer.stats.duplicates >= 1
    assert producer.stats.extended == 0


async def _empty(sqs: Client, url: str) -> bool:
    return await remaining(sqs, url) == 0
