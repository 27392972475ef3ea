"""RetryHold: retried messages waiting for their not-before time. Pure; clock given.

Messages read from the retry topic before their time are held here, earliest
first, and released to the fetch buffer when due. They stay pending in the
offset tracker meanwhile, so the retry topic's commit point does not pass them.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Hashable

from broadway_py.message import Message


class RetryHold:
    __slots__ = ("_heap", "_seq")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Hashable, Message]] = []
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._heap)

    def add(self, not_before: float, key: Hashable, message: Message) -> None:
        heapq.heappush(self._heap, (not_before, next(self._seq), key, message))

    def next_due(self) -> float | None:
        """When the earliest held message is due, or None when nothing is held."""
        return self._heap[0][0] if self._heap else None

    def due(self, now: float) -> list[tuple[Hashable, Message]]:
        """Release every message due at ``now``, earliest first."""
        heap = self._heap
        released = []
        while heap and heap[0][0] <= now:
            _, _, key, message = heapq.heappop(heap)
            released.append((key, message))
        return released

    def drop(self, key: Hashable) -> list[Message]:
        """Take out every held message of partition ``key``."""
        dropped = [entry[3] for entry in self._heap if entry[2] == key]
        if dropped:
            self._heap = [entry for entry in self._heap if entry[2] != key]
            heapq.heapify(self._heap)
        return dropped

    def clear(self) -> list[Message]:
        dropped = [entry[3] for entry in self._heap]
        self._heap = []
        return dropped
