"""``processors.timeout``: a handle_message past it fails that message, and only it.

Each executor stops waiting its own way (topology/processor_stage.py): an
async call is cancelled, a thread's call is abandoned to its thread, a
process's chunk is abandoned to its worker. The handlers are module-level: a
worker process imports this module to load them.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from broadway_py import Message, Pipeline, ProcessorOptions, ProducerOptions, RetryPolicy
from broadway_py.connectors.memory import MemoryBroker, MemoryProducer, MemoryQueue
from broadway_py.errors import ConfigurationError
from broadway_py.telemetry import Event, HandlerAbandoned, Telemetry
from tests.support import wait_until

ONCE = RetryPolicy(max_attempts=1)
TIMEOUT = 0.5
REASON = "handle_message timed out after 0.5s (processors.timeout)"
STUCK = 7
"""The id whose call never returns in time."""

released = threading.Event()
"""Lets the thread executor's stuck call return once the test has seen it abandoned."""


async def async_stuck(message: Message) -> Message:
    if message.data == STUCK:
        await asyncio.Event().wait()  # never set: only the deadline ends it
    if message.data == 3:
        raise TimeoutError("the handler's own timeout")
    return message


def thread_stuck(message: Message) -> Message:
    if message.data == STUCK:
        released.wait(30)
    return message


STUCK_PID = Path(tempfile.gettempdir()) / "broadway-test-timeout-stuck.pid"
"""Where the stuck worker process writes its pid, for the test to see it killed."""


def process_stuck(message: Message) -> Message:
    if message.data == STUCK:
        STUCK_PID.write_text(str(os.getpid()))
        time.sleep(3600)  # sleep-ok: a call that never returns in time; its worker is killed
    return message


def process_late(message: Message) -> Message:
    if message.data == STUCK:
        time.sleep(TIMEOUT * 2)  # sleep-ok: returns, but past the timeout
    return message


def queue_with(items: list[Any]) -> MemoryQueue:
    queue = MemoryBroker().queue("q")
    queue.push_many(items)
    return queue


def pipeline(handler: Any, queue: MemoryQueue, executor: str, telemetry: Telemetry) -> Pipeline:
    return Pipeline(
        "timeout",
        handler,
        ProducerOptions(MemoryProducer.factory(queue)),
        ProcessorOptions(concurrency=2, max_demand=5, executor=executor, timeout=TIMEOUT),  # type: ignore[arg-type]
        retry=ONCE,
        telemetry=telemetry,
    )


def recorded() -> tuple[Telemetry, list[Event]]:
    telemetry = Telemetry("timeout")
    events: list[Event] = []
    telemetry.subscribe(events.append)
    return telemetry, events


def dead(queue: MemoryQueue) -> dict[Any, str]:
    return {d.data: d.reason for d in queue.dead_letters}


async def test_an_async_call_past_the_timeout_is_cancelled_and_fails_alone() -> None:
    queue = queue_with(list(range(20)))
    telemetry, events = recorded()
    async with pipeline(async_stuck, queue, "loop", telemetry):
        await queue.wait_idle(30)
    assert dead(queue) == {STUCK: REASON, 3: "TimeoutError: the handler's own timeout"}
    assert queue.stats.successful == 18
    assert not [e for e in events if isinstance(e, HandlerAbandoned)], "cancelled, not abandoned"


async def test_a_thread_call_past_the_timeout_is_abandoned_and_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    released.clear()
    queue = queue_with(list(range(20)))
    telemetry, events = recorded()
    try:
        async with pipeline(thread_stuck, queue, "thread", telemetry):
            await queue.wait_idle(30)
    finally:
        released.set()
    assert dead(queue) == {STUCK: REASON}
    assert queue.stats.successful == 19
    abandoned = [e for e in events if isinstance(e, HandlerAbandoned)]
    assert [(e.executor, e.count) for e in abandoned] == [("thread", 1)]
    assert "abandoned a handle_message call past processors.timeout" in caplog.text


async def test_a_process_chunk_past_the_timeout_fails_whole_and_its_worker_is_abandoned() -> None:
    queue = queue_with(list(range(20)))
    telemetry, events = recorded()
    async with pipeline(process_stuck, queue, "process", telemetry):
        await queue.wait_idle(60)
    reasons = dead(queue)
    assert STUCK in reasons
    assert set(reasons.values()) == {REASON}
    # The stuck call's chunk (at most max_demand messages) fails whole; the rest go through.
    assert len(reasons) <= 5
    assert queue.stats.successful == 20 - len(reasons)
    assert sum(e.count for e in events if isinstance(e, HandlerAbandoned)) == len(reasons)
    # Once the pipeline stopped, the abandoned worker is gone (else it would outlive the
    # pipeline, and hold up the interpreter's exit on its pool).
    stuck = Path("/proc") / STUCK_PID.read_text()
    await wait_until(lambda: not stuck.exists() or "Z" in status_of(stuck), 10, "the worker killed")


def status_of(proc: Path) -> str:
    """The state letter of a process in /proc (Z: a zombie, dead already)."""
    try:
        return (proc / "stat").read_text().split(") ", 1)[1][:1]
    except (OSError, IndexError):
        return "Z"


async def test_a_process_call_that_returns_late_fails_alone() -> None:
    queue = queue_with(list(range(10)))
    telemetry, _ = recorded()
    p = pipeline(process_late, queue, "process", telemetry)
    # The chunk as a whole is in time (TIMEOUT per message), the one call is not.
    async with p:
        await queue.wait_idle(60)
    assert dead(queue) == {STUCK: REASON}
    assert queue.stats.successful == 9


@pytest.mark.parametrize("value", [0, -1.0])
def test_the_timeout_is_above_zero(value: float) -> None:
    with pytest.raises(ConfigurationError, match=r"processors\.timeout"):
        ProcessorOptions(timeout=value)


def test_no_timeout_is_the_default() -> None:
    assert ProcessorOptions().timeout is None


def passing(message: Message) -> Message:
    return message


async def test_a_sync_handler_on_the_loop_is_not_timed_and_a_warning_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    queue = queue_with(list(range(5)))
    telemetry, _ = recorded()
    async with pipeline(passing, queue, "loop", telemetry):
        await queue.wait_idle(30)
    assert queue.stats.successful == 5
    assert "processors.timeout does not apply to a synchronous handle_message" in caplog.text
