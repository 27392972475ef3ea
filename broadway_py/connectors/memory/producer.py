"""MemoryProducer: takes messages from a MemoryQueue; its acknowledger too."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Hashable, Sequence

from broadway_py.connectors.memory.broker import DEFAULT_BROKER, MemoryBroker
from broadway_py.connectors.memory.queue import MemoryQueue
from broadway_py.connectors.toolkit import resolve
from broadway_py.message import Message
from broadway_py.telemetry import BacklogReported, ProducerConnected, Telemetry

_leases = itertools.count(1)


class MemoryProducer:
    """A producer over one queue of a MemoryBroker (the process default if omitted).

    Each instance holds its own lease: when it closes, what it took and never
    acked is redelivered to the next taker.
    """

    def __init__(self, queue: str | MemoryQueue, broker: MemoryBroker | None = None) -> None:
        if isinstance(queue, MemoryQueue):
            self.queue = queue
        else:
            self.queue = (broker or DEFAULT_BROKER).queue(queue)
        self.lease: Hashable = next(_leases)
        self._stopped = False
        self._waiter: asyncio.Future[None] | None = None
        self._telemetry: Telemetry | None = None

    @staticmethod
    def factory(
        queue: str | MemoryQueue, broker: MemoryBroker | None = None
    ) -> Callable[[], MemoryProducer]:
        """A factory for ``ProducerOptions``: one producer (one lease) per stage."""
        return lambda: MemoryProducer(queue, broker)

    async def start(self, telemetry: Telemetry) -> None:
        self._telemetry = telemetry
        if telemetry.enabled:
            telemetry.emit(ProducerConnected(True))

    async def fetch(self, demand: int) -> list[Message]:
        queue = self.queue
        while not self._stopped:
            messages = queue.take(demand, self.lease, self)
            if messages:
                telemetry = self._telemetry
                if telemetry is not None and telemetry.enabled:
                    telemetry.emit(BacklogReported(queue.name, queue.ready))
                return messages
            self._waiter = queue.waiter()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return []

    def stop_fetching(self) -> None:
        self._stopped = True
        resolve(self._waiter, None)

    async def close(self) -> None:
        self.stop_fetching()
        self.queue.release(self.lease)
        if self._telemetry is not None and self._telemetry.enabled:
            self._telemetry.emit(ProducerConnected(False, "closed"))

    async def ack(
        self, ack_ref: Hashable, successful: Sequence[Message], failed: Sequence[Message]
    ) -> None:
        self.queue.settle(successful, failed)
