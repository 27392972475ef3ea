"""The in-memory broker's contract harness."""

from __future__ import annotations

from collections.abc import Sequence

from broadway_py import ProducerOptions
from broadway_py.connectors.memory import MemoryBroker, MemoryProducer, MemoryQueue
from tests.contract.harness import ConnectorHarness


class MemoryHarness(ConnectorHarness):
    name = "memory"
    patience = 10.0

    async def setup(self) -> None:
        self.broker = MemoryBroker()
        self.queue: MemoryQueue = self.broker.queue("contract")

    async def teardown(self) -> None:
        return None

    async def publish(self, payloads: Sequence[bytes]) -> None:
        self.queue.push_many(payloads)

    def producer_options(self, concurrency: int = 1) -> ProducerOptions:
        return ProducerOptions(MemoryProducer.factory(self.queue), concurrency=concurrency)

    async def dead_lettered(self) -> list[bytes]:
        return [letter.data for letter in self.queue.dead_letters]

    async def remaining(self) -> int:
        return self.queue.ready + self.queue.unacked + self.queue.delayed


HARNESS = MemoryHarness
