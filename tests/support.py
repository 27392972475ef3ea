"""Helpers the test suites share: waiting on conditions, recording handlers, faults."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Any

from broadway_py import BatchInfo, Handler, Message
from broadway_py.producer import Producer
from broadway_py.telemetry import Telemetry


async def wait_until(
    condition: Callable[[], bool | Awaitable[bool]],
    timeout: float,
    what: str = "condition",
    interval: float = 0.01,
) -> None:
    """Poll ``condition`` until true; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)  # sleep-ok: poll interval of a deadline-bounded wait


class Recorder(Handler):
    """Records every call; fails a message while ``fail(message)`` says so."""

    def __init__(
        self,
        fail: Callable[[Message], bool] = lambda m: False,
        batcher: str | None = None,
        delay: float = 0.0,
    ) -> None:
        self.fail = fail
        self.batcher = batcher
        self.delay = delay
        self.seen: list[tuple[Any, int]] = []
        self.batches: list[list[Any]] = []
        self.failed_seen: list[Message] = []

    async def handle_message(self, message: Message) -> Message:
        self.seen.append((message.data, message.attempt))
        if self.delay:
            await asyncio.sleep(self.delay)  # sleep-ok: simulated work
        if self.fail(message):
            raise RuntimeError(f"injected failure of {message.data!r}")
        if self.batcher:
            message.put_batcher(self.batcher)
        return message

    def handle_batch(self, batcher: str, messages: list[Message], info: BatchInfo) -> list[Message]:
        self.batches.append([m.data for m in messages])
        return messages

    def handle_failed(self, messages: list[Message]) -> list[Message]:
        self.failed_seen.extend(messages)
        return messages

    def payloads(self) -> set[Any]:
        return {data for data, _ in self.seen}


class CrashingProducer:
    """Wraps a producer; its ``fetch`` raises once ``crash_after`` messages went out.

    A fault in the producer's own machinery: the supervisor restarts the
    stages and hands back what was in flight.
    """

    def __init__(self, inner: Producer, crash_after: int, crashes: int = 1) -> None:
        self.inner = inner
        self.crash_after = crash_after
        self.crashes_left = crashes
        self.delivered = 0

    async def start(self, telemetry: Telemetry) -> None:
        await self.inner.start(telemetry)

    async def fetch(self, demand: int) -> list[Message]:
        if self.crashes_left and self.delivered >= self.crash_after:
            self.crashes_left -= 1
            self.crash_after += self.crash_after or 1
            raise ConnectionError("injected producer crash")
        messages = await self.inner.fetch(demand)
        self.delivered += len(messages)
        return messages

    def stop_fetching(self) -> None:
        self.inner.stop_fetching()

    async def close(self) -> None:
        await self.inner.close()


class CrashingAcknowledger:
    """Wraps an acknowledger; raises after delegating when ``should_crash()`` says so."""

    def __init__(self, inner: Any, should_crash: Callable[[], bool]) -> None:
        self.inner = inner
        self.should_crash = should_crash

    async def ack(
        self, ack_ref: Hashable, successful: Sequence[Message], failed: Sequence[Message]
    ) -> None:
        await self.inner.ack(ack_ref, successful, failed)
        if successful and self.should_crash():
            raise ConnectionError("injected acknowledger crash")


def payloads(count: int, prefix: str = "m") -> list[bytes]:
    return [f"{prefix}-{i:05d}".encode() for i in range(count)]
