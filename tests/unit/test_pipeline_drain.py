"""A drain that runs out of time ends cleanly: nothing more acked, one log line, run() returns."""

from __future__ import annotations

import asyncio
import logging
import os
import signal

import pytest

from broadway_py import Message, Pipeline, ProcessorOptions, ProducerOptions, ShutdownOptions
from broadway_py.connectors.memory import MemoryBroker, MemoryProducer, MemoryQueue
from tests.support import wait_until

DRAIN_TIMEOUT = 0.3


def slow_pipeline(queue: MemoryQueue, started: list[object]) -> Pipeline:
    async def outlives_the_drain(message: Message) -> Message:
        started.append(message.data)
        await asyncio.sleep(60)  # sleep-ok: simulated work that outlives the drain
        return message

    return Pipeline(
        "slow",
        outlives_the_drain,
        ProducerOptions(MemoryProducer.factory(queue)),
        ProcessorOptions(concurrency=2, max_demand=5),
        shutdown=ShutdownOptions(drain_timeout=DRAIN_TIMEOUT),
    )


async def busy(count: int) -> tuple[MemoryQueue, Pipeline, asyncio.Task[None]]:
    """``count`` messages; the pipeline running until both processors hold one for good."""
    queue = MemoryBroker().queue("q")
    queue.push_many(range(count))
    started: list[object] = []
    pipeline = slow_pipeline(queue, started)
    running = asyncio.create_task(pipeline.run())
    await wait_until(lambda: len(started) == 2, 5, "both processors to be busy")
    return queue, pipeline, running


def drain_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "drain timed out" in r.getMessage()]


async def test_sigterm_past_the_drain_timeout_returns_and_leaves_the_rest_to_the_broker(
    caplog: pytest.LogCaptureFixture,
) -> None:
    queue, pipeline, running = await busy(40)
    in_flight = len(pipeline.in_flight)
    assert in_flight > 2  # the busy ones plus what waits in the processors' buffers
    with caplog.at_level(logging.INFO, "broadway_py.pipeline"):
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(running, DRAIN_TIMEOUT + 5)  # returns: no CancelledError
    assert running.exception() is None
    assert pipeline.state == "stopped"
    assert drain_lines(caplog) == [
        f"drain timed out after {DRAIN_TIMEOUT:g}s: {in_flight} messages left unacknowledged; "
        "the broker redelivers them"
    ]
    assert queue.stats.acked == 0  # nothing was acked on the way out
    assert queue.unacked == 0  # the producers closed: their leases went back
    assert queue.ready == 40


async def test_two_stops_past_the_drain_timeout_while_run_waits_log_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    queue, pipeline, running = await busy(10)
    with caplog.at_level(logging.WARNING, "broadway_py.pipeline"):
        await asyncio.wait_for(asyncio.gather(pipeline.stop(), pipeline.stop()), DRAIN_TIMEOUT + 5)
    await asyncio.wait_for(running, 5)
    assert running.exception() is None
    assert len(drain_lines(caplog)) == 1
    assert queue.ready == 10


async def test_kill_while_run_waits_returns_run() -> None:
    queue, pipeline, running = await busy(10)
    await asyncio.wait_for(pipeline.kill(), 5)
    await asyncio.wait_for(running, 5)
    assert running.exception() is None
    assert pipeline.state == "stopped"
    assert queue.ready == 10


async def test_kill_right_after_start_stops_without_running_a_stage() -> None:
    queue = MemoryBroker().queue("q")
    queue.push_many(range(10))
    pipeline = slow_pipeline(queue, [])
    await pipeline.start()
    await asyncio.wait_for(pipeline.kill(), 5)
    assert pipeline.state == "stopped"
    assert queue.ready == 10
