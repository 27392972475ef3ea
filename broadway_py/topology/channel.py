"""Channel: the bounded FIFO between two stages, measured in messages.

Items are lists of messages (or batches), so a hop between stages costs one
queue operation per chunk, not per message. ``put`` waits while the channel is
full and, once it had to wait, until the channel has drained to its low-water
mark (so producers refill in chunks, as GenStage's min/max demand do). A chunk
larger than the capacity is still accepted into an empty channel, so the
bound is ``capacity`` plus one chunk.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterator
from itertools import chain
from typing import Any, Generic, Protocol, TypeVar

from broadway_py.futures import resolve


class Chunk(Protocol):
    """What a channel carries: a sized group of messages (a list, a batch)."""

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[Any]: ...


T = TypeVar("T", bound=Chunk)


class Channel(Generic[T]):
    def __init__(self, capacity: int, low_water: int | None = None) -> None:
        self.capacity = capacity
        self.low_water = capacity // 2 if low_water is None else min(low_water, capacity)
        self.size = 0
        self.closed = False
        self._items: deque[T] = deque()
        self._getters: deque[asyncio.Future[None]] = deque()
        self._putters: deque[asyncio.Future[None]] = deque()

    def __len__(self) -> int:
        return self.size

    async def put(self, item: T) -> None:
        count = len(item)
        if self.size and self.size + count > self.capacity:
            loop = asyncio.get_running_loop()
            while self.size > self.low_water and not self.closed:
                waiter = loop.create_future()
                self._putters.append(waiter)
                try:
                    await waiter
                except BaseException:
                    if waiter in self._putters:
                        self._putters.remove(waiter)
                    self._wake(self._putters)
                    raise
        self._items.append(item)
        self.size += count
        self._wake(self._getters)

    async def get(self, deadline: float | None = None) -> T | None:
        """The next item; ``None`` once closed and empty, or when ``deadline`` came."""
        items = self._items
        if not items:
            loop = asyncio.get_running_loop()
            while not items:
                if self.closed:
                    return None
                if deadline is not None and loop.time() >= deadline:
                    return None
                waiter = loop.create_future()
                self._getters.append(waiter)
                timer = loop.call_at(deadline, resolve, waiter) if deadline is not None else None
                try:
                    await waiter
                except BaseException:
                    if waiter in self._getters:
                        self._getters.remove(waiter)
                    if items:
                        self._wake(self._getters)
                    raise
                finally:
                    if timer is not None:
                        timer.cancel()
                    if waiter in self._getters:
                        self._getters.remove(waiter)
        item = items.popleft()
        self.size -= len(item)
        if self._putters and self.size <= self.low_water:
            self._wake_all(self._putters)
        if items and self._getters:
            self._wake(self._getters)
        return item

    def close(self) -> None:
        """No more items will come: getters see ``None`` once the rest is taken."""
        self.closed = True
        self._wake_all(self._getters)
        self._wake_all(self._putters)

    def clear(self) -> list[T]:
        """Take everything out (a restart) and wake blocked putters."""
        taken = list(self._items)
        self._items.clear()
        self.size = 0
        self._wake_all(self._putters)
        return taken

    def held(self) -> Iterator[Any]:
        """The messages of every item waiting here (an in-flight place)."""
        return chain.from_iterable(self._items)

    def take_all(self) -> list[Any]:
        """:meth:`clear`, flattened to the messages (an in-flight place)."""
        return list(chain.from_iterable(self.clear()))

    @staticmethod
    def _wake(waiters: deque[asyncio.Future[None]]) -> None:
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return  # woke one that was still waiting

    @staticmethod
    def _wake_all(waiters: deque[asyncio.Future[None]]) -> None:
        # Results are delivered on a later loop turn: nothing joins ``waiters`` meanwhile.
        for waiter in waiters:
            resolve(waiter)
        waiters.clear()
