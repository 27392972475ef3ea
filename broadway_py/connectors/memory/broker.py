"""MemoryBroker: a set of named in-memory queues, the embedded default broker."""

from __future__ import annotations

from typing import Any

from broadway_py.connectors.memory.queue import MemoryQueue


class MemoryBroker:
    """Named queues living in this process. ``broker.queue("orders").push(b"...")``."""

    def __init__(self, record: bool = False) -> None:
        self.record = record
        self._queues: dict[str, MemoryQueue] = {}

    def queue(self, name: str) -> MemoryQueue:
        """The queue called ``name``, made on first use."""
        queue = self._queues.get(name)
        if queue is None:
            queue = self._queues[name] = MemoryQueue(name, record=self.record)
        return queue

    def push(self, queue: str, data: Any, metadata: dict[str, Any] | None = None) -> int:
        return self.queue(queue).push(data, metadata)

    def names(self) -> list[str]:
        return sorted(self._queues)


DEFAULT_BROKER = MemoryBroker()
"""The process-wide broker that YAML pipelines with a ``memory`` producer use."""
