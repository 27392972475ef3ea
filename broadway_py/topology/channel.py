"""Channel: the bounded FIFO between two stages, measured in messages.

Items are lists of messages (or batches), so a hop between stages costs one
queue operation per chunk, not per message. ``put`` waits while the channel is
full and, once it had to wait, until the channel has drained to its low-water
mark (so producers refill in chunks, as GenStage's min/max demand do). A chunk
larger than the capacity is still accepted into an empty channel, so the
bound is ``capacity`` plus one chunk.

Channels may share one :class:`Room`: the processors' inboxes under
``partition_by`` do, so a put waits only while the inboxes *together* are
full. Each inbox bounded on its own stopped the producer on the first full
one, and every other processor ran dry meanwhile: a slow handler on 4 Kafka
partitions kept 1.5 processors of 4 busy, 3.9 with the shared room
(bench/slow_handler.py).
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


class Room:
    """The capacity, low-water mark and waiting putters of one or more channels."""

    __slots__ = ("capacity", "low_water", "putters", "size")

    def __init__(self, capacity: int, low_water: int | None = None) -> None:
        self.capacity = capacity
        self.low_water = capacity // 2 if low_water is None else min(low_water, capacity)
        #: Messages in the channels sharing this room.
        self.size = 0
        self.putters: deque[asyncio.Future[None]] = deque()


class Channel(Generic[T]):
    def __init__(
        self, capacity: int, low_water: int | None = None, room: Room | None = None
    ) -> None:
        self.room = room if room is not None else Room(capacity, low_water)
        self.size = 0
        self.closed = False
        self._items: deque[T] = deque()
        self._getters: deque[asyncio.Future[None]] = deque()

    @property
    def capacity(self) -> int:
        return self.room.capacity

    @property
    def low_water(self) -> int:
        return self.room.low_water

    def __len__(self) -> int:
        return self.size

    async def put(self, item: T) -> None:
        count = len(item)
        room = self.room
        if room.size and room.size + count > room.capacity:
            loop = asyncio.get_running_loop()
            putters = room.putters
            while room.size > room.low_water and not self.closed:
                waiter = loop.create_future()
                putters.append(waiter)
                try:
                    await waiter
                except BaseException:
                    if waiter in putters:
                        putters.remove(waiter)
                    self._wake(putters)
                    raise
        self._items.append(item)
        self.size += count
        room.size += count
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
        count = len(item)
        self.size -= count
        room = self.room
        room.size -= count
        if room.putters and room.size <= room.low_water:
            self._wake_all(room.putters)
        if items and self._getters:
            self._wake(self._getters)
        return item

    def close(self) -> None:
        """No more items will come: getters see ``None`` once the rest is taken."""
        self.closed = True
        self._wake_all(self._getters)
        self._wake_all(self.room.putters)

    def clear(self) -> list[T]:
        """Take everything out (a restart) and wake blocked putters."""
        taken = list(self._items)
        self._items.clear()
        self.room.size -= self.size
        self.size = 0
        self._wake_all(self.room.putters)
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
