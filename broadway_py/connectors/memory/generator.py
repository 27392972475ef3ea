"""GeneratorProducer: synthetic messages, N of them or endless, optionally paced.

For the demo and the benchmarks. Outcomes are counted, not redelivered: a
generated message that the policy would retry is only counted as retried.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from broadway_py.acknowledger import Failed, Outcomes
from broadway_py.futures import resolve
from broadway_py.message import Message
from broadway_py.telemetry import ProducerConnected, Telemetry

Payload = bytes | str | Callable[[int], Any]


@dataclass
class GeneratedCounts(Outcomes):
    """Messages generated, and the outcomes they were acknowledged with (core's counter)."""

    generated: int = 0

    @property
    def acked(self) -> int:
        """Messages acknowledged as successful (the name the benchmarks and tests read)."""
        return self.successful


class GeneratorProducer:
    """Makes ``count`` messages (``None``: endless), at most ``rate`` per second.

    ``payload`` is the data of every message, or a function of its sequence
    number. When ``count`` messages were generated, ``fetch`` returns ``[]``,
    which finishes the producer stage: a finite generator's pipeline runs to
    completion by itself.
    """

    def __init__(
        self,
        count: int | None = None,
        rate: float | None = None,
        payload: Payload = b"hello",
        counts: GeneratedCounts | None = None,
    ) -> None:
        if count is not None and count < 0:
            raise ValueError("count must not be negative")
        if rate is not None and rate <= 0:
            raise ValueError("rate must be above 0")
        self.count = count
        self.rate = rate
        self.payload = payload
        self.counts = counts or GeneratedCounts()
        self._next = 0
        self._stopped = False
        self._started_at = 0.0
        self._pause: asyncio.Future[None] | None = None

    async def start(self, telemetry: Telemetry) -> None:
        self._started_at = asyncio.get_running_loop().time()
        if telemetry.enabled:
            telemetry.emit(ProducerConnected(True))

    async def fetch(self, demand: int) -> list[Message]:
        if self.count is not None:
            demand = min(demand, self.count - self._next)
        if self.rate is not None and demand > 0:
            demand = await self._paced(demand)
        if self._stopped or demand <= 0:
            return []
        first = self._next
        self._next += demand
        self.counts.generated += demand
        payload = self.payload
        if callable(payload):
            return [
                Message(payload(n), acknowledger=self, metadata={"seq": n})
                for n in range(first, first + demand)
            ]
        return [
            Message(payload, acknowledger=self, metadata={"seq": n})
            for n in range(first, first + demand)
        ]

    async def _paced(self, demand: int) -> int:
        assert self.rate is not None
        loop = asyncio.get_running_loop()
        while not self._stopped:
            allowed = int((loop.time() - self._started_at) * self.rate) - self._next
            if allowed > 0:
                return min(demand, allowed)
            due = self._started_at + (self._next + 1) / self.rate
            self._pause = loop.create_future()
            handle = loop.call_at(due, resolve, self._pause)
            try:
                await self._pause
            finally:
                handle.cancel()
                self._pause = None
        return 0

    def stop_fetching(self) -> None:
        self._stopped = True
        if self._pause is not None:
            resolve(self._pause)

    async def close(self) -> None:
        self.stop_fetching()

    async def ack(self, ack_ref: Hashable, successful: Sequence[Message], failed: Failed) -> None:
        counts = self.counts
        counts.successful += len(successful)
        if failed:
            counts.add_failed(failed)
