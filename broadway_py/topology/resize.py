"""Resizing while running: more or fewer processors, or batch processors of a batcher.

Each worker (a processor, a batch processor) reads its inbox through a
:class:`Lane`: the worker's own end of a channel, which can be pointed at
another channel or retired while the worker runs. A :class:`Workers` is one
group of like workers with their channels (the processors; one batcher's batch
processors) and changes their number:

- **Without partition_by** the workers share one channel: a new worker is one
  more stage task on it; a removed one finishes the chunk in its hands, then
  exits (one waiting for a chunk is cancelled there, holding nothing). The
  channel's room is resized with them.
- **With partition_by** keys are hashed modulo the number of channels, so a
  new count remaps keys. First the stage feeding them is held at a safe point
  (a :class:`Gate`: the producers' dispatch, or the batcher, which first hands
  over its open batches), then every channel must be empty and every worker
  waiting on its lane: nothing of the old mapping is anywhere. Only then are
  the channels made anew for the new count, the lanes re-pointed or retired,
  the new workers started, and the gate opened. Per-key order holds across
  the change.

The in-flight registry follows: new channels and holdings are registered, the
old ones (empty by then) forgotten, so a restart or a drain sees everything.
Resizes of one pipeline run one at a time (:class:`Resizer`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from broadway_py.errors import ConfigurationError, PipelineNotRunning
from broadway_py.futures import resolve
from broadway_py.message import Message
from broadway_py.options import MAX_WORKERS
from broadway_py.telemetry import StageGroup
from broadway_py.topology.batcher import Batch
from broadway_py.topology.channel import Channel, Chunk, Room
from broadway_py.topology.holding import Holding
from broadway_py.topology.in_flight import InFlight

T = TypeVar("T", bound=Chunk)

StageFactory = Callable[[], Coroutine[Any, Any, None]]
Wake = Callable[[], Coroutine[Any, Any, None]]
"""Sends the stage feeding a group round its loop, to its gate (a batcher waiting for input)."""


class Signal:
    """Wakes whoever waits for a group of workers to go quiet, on each change that may matter."""

    __slots__ = ("waiter",)

    def __init__(self) -> None:
        self.waiter: asyncio.Future[None] | None = None

    def notify(self) -> None:
        resolve(self.waiter)

    async def wait(
        self, quiet: Callable[[], bool], timeout: float, alive: asyncio.Future[None] | None
    ) -> bool:
        """Until ``quiet()``; False when ``timeout`` passed first. PipelineNotRunning once
        ``alive`` (the stages' task) ended."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not quiet():
            if alive is not None and alive.done():
                raise PipelineNotRunning("the pipeline stopped during the resize")
            left = deadline - loop.time()
            if left <= 0:
                return False
            waiter = self.waiter = loop.create_future()
            watched: set[asyncio.Future[None]] = {waiter}
            if alive is not None:
                watched.add(alive)
            try:
                await asyncio.wait(watched, timeout=left, return_when=asyncio.FIRST_COMPLETED)
            finally:
                self.waiter = None
        return True


class Gate:
    """Holds the stage that feeds a keyed group at a safe point while the group is rebuilt."""

    __slots__ = ("busy", "closed", "signal")

    def __init__(self, signal: Signal, busy: int = 0) -> None:
        self.signal = signal
        #: Set while closed: resolved when the gate opens again.
        self.closed: asyncio.Future[None] | None = None
        #: How many feeders are past the gate (dispatching, or a batcher not parked at it).
        self.busy = busy

    def close(self) -> None:
        self.closed = asyncio.get_running_loop().create_future()

    def open(self) -> None:
        closed, self.closed = self.closed, None
        resolve(closed)

    async def wait(self) -> None:
        """Wait while closed (shielded: one waiter cancelled leaves the gate to the rest)."""
        while self.closed is not None:
            await asyncio.shield(self.closed)


class Lane(Channel[T]):
    """A worker's end of a channel: ``get`` takes from ``source`` until retired.

    Only ``get`` is used by a worker. When ``source`` is closed and replaced
    (a keyed resize), a waiting ``get`` goes on with the new one; once
    ``retired``, the next ``get`` returns None and the worker ends.
    """

    def __init__(self, source: Channel[T], signal: Signal) -> None:
        super().__init__(0, room=source.room)
        self.source = source
        self.signal = signal
        self.retired = False
        #: True while the worker waits here for an item (it holds nothing then).
        self.waiting = False

    def __len__(self) -> int:
        return len(self.source)

    async def get(self, deadline: float | None = None) -> T | None:
        while not self.retired:
            source = self.source
            self.waiting = True
            if self.signal.waiter is not None:
                self.signal.notify()
            try:
                item = await source.get(deadline)
            finally:
                self.waiting = False
            if item is not None or source is self.source:
                return item
        return None


@dataclass
class Worker(Generic[T]):
    name: str
    lane: Lane[T]
    holding: Holding


class Supervised(Protocol):
    """What :class:`Workers` needs of the supervisor: start a stage, take one out."""

    def add_stage(self, kind: StageGroup, name: str, factory: StageFactory) -> None: ...

    def remove_stage(self, kind: StageGroup, name: str) -> asyncio.Task[None] | None: ...


class Workers(Generic[T]):
    """One resizable group of like workers and the channels they read.

    ``kind`` and ``prefix`` name the supervisor's group and the workers'
    stages (``prefix`` plus the index); ``owner`` is the in-flight group of
    their channels and holdings. ``make_stage(index, lane, holding)`` is one
    worker's stage factory; ``room_for(count)`` the capacity and low-water mark
    of the channels' room for ``count`` workers. ``keyed`` (partition_by):
    each worker has a channel of its own, all in one room; ``on_channels``
    hands the new ones to the stage feeding them.
    """

    def __init__(
        self,
        kind: StageGroup,
        prefix: str,
        owner: int,
        in_flight: InFlight,
        channels: list[Channel[T]],
        keyed: bool,
        count: int,
        make_stage: Callable[[int, Lane[T], Holding], StageFactory],
        room_for: Callable[[int], tuple[int, int | None]],
        on_channels: Callable[[list[Channel[T]]], None] = lambda channels: None,
        gate: Gate | None = None,
    ) -> None:
        self.kind = kind
        self.prefix = prefix
        self.owner = owner
        self.in_flight = in_flight
        self.channels = channels
        self.keyed = keyed
        self.make_stage = make_stage
        self.room_for = room_for
        self.on_channels = on_channels
        #: Where the stage feeding a keyed group is held while it is rebuilt.
        self.gate = gate if gate is not None else Gate(Signal())
        self.signal = self.gate.signal
        for channel in channels:
            in_flight.register(owner, channel)
        self.workers = [self._worker(i) for i in range(count)]

    def _worker(self, index: int) -> Worker[T]:
        holding = Holding()
        self.in_flight.register(self.owner, holding)
        lane = Lane(self.channels[index if self.keyed else 0], self.signal)
        return Worker(f"{self.prefix}{index}", lane, holding)

    def stages(self) -> list[tuple[str, StageFactory]]:
        """The (name, factory) of each worker, for the supervisor's group."""
        return [(w.name, self.make_stage(i, w.lane, w.holding)) for i, w in enumerate(self.workers)]

    def __len__(self) -> int:
        return len(self.workers)

    def quiet(self) -> bool:
        """Nothing of the group's is anywhere: the feeder held, channels empty, workers waiting."""
        return (
            self.gate.busy == 0
            and not any(len(channel) for channel in self.channels)
            and all(w.lane.waiting for w in self.workers)
        )

    async def resize(
        self,
        count: int,
        supervisor: Supervised,
        timeout: float,
        alive: asyncio.Future[None] | None,
        wake: Wake | None = None,
    ) -> None:
        """Run ``count`` workers; raises TimeoutError (nothing changed) when a keyed
        group did not go quiet within ``timeout`` seconds."""
        if count == len(self.workers):
            return
        if not self.keyed:
            await self._resize_shared(count, supervisor, timeout, alive)
            return
        self.gate.close()
        try:
            if wake is not None:  # a feeder waiting for input: to the gate
                await asyncio.wait_for(wake(), timeout)
            if not await self.signal.wait(self.quiet, timeout, alive):
                raise TimeoutError(
                    f"the {self.kind} stages did not finish their messages within {timeout:g}s; "
                    "nothing was resized"
                )
            if any(channel.closed for channel in self.channels):
                raise PipelineNotRunning("the pipeline is draining")
            ending = self._rebuild(count, supervisor)
        finally:
            self.gate.open()
        if ending:  # woken by their closed channel, each ends at once
            await asyncio.wait(ending, timeout=timeout)

    def _rebuild(self, count: int, supervisor: Supervised) -> list[asyncio.Task[None]]:
        capacity, low_water = self.room_for(count)
        room = Room(capacity, low_water)
        old = self.channels
        new: list[Channel[T]] = [Channel(capacity // count, room=room) for _ in range(count)]
        for channel in old:
            self.in_flight.unregister(channel)
        for channel in new:
            self.in_flight.register(self.owner, channel)
        self.channels = new
        kept, retired = self.workers[:count], self.workers[count:]
        for index, worker in enumerate(kept):
            worker.lane.source = new[index]
        ending: list[asyncio.Task[None]] = []
        for worker in retired:
            worker.lane.retired = True
            task = supervisor.remove_stage(self.kind, worker.name)
            if task is not None:
                ending.append(task)
            self.in_flight.unregister(worker.holding)  # waiting: it holds nothing
        self.on_channels(new)
        for channel in old:
            channel.close()  # wakes the lanes waiting there: re-pointed, or retired
        self.workers = kept
        self._grow(count, supervisor)
        return ending

    def _grow(self, count: int, supervisor: Supervised) -> None:
        while len(self.workers) < count:
            index = len(self.workers)
            worker = self._worker(index)
            self.workers.append(worker)
            supervisor.add_stage(
                self.kind, worker.name, self.make_stage(index, worker.lane, worker.holding)
            )

    async def _resize_shared(
        self,
        count: int,
        supervisor: Supervised,
        timeout: float,
        alive: asyncio.Future[None] | None,
    ) -> None:
        capacity, low_water = self.room_for(count)
        room = self.channels[0].room
        room.capacity = capacity
        room.low_water = capacity // 2 if low_water is None else min(low_water, capacity)
        retired = self.workers[count:]
        self.workers = self.workers[:count]
        self._grow(count, supervisor)
        ending: list[asyncio.Task[None]] = []
        for worker in retired:
            worker.lane.retired = True
            task = supervisor.remove_stage(self.kind, worker.name)
            if task is None:
                continue
            if worker.lane.waiting:
                task.cancel()  # waiting for a chunk: it holds nothing
            ending.append(task)
        if ending:  # the busy ones finish the chunk in hand first
            await asyncio.wait(ending, timeout=timeout)
        for worker in retired:
            if not any(worker.holding.held()):
                self.in_flight.unregister(worker.holding)


class Resizer:
    """The resizable groups of one run, and the lock that makes resizes take turns."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.processors: Workers[list[Message]] | None = None
        #: Each batcher's batch processors, and how to wake its batcher (to its gate).
        self.batchers: dict[str, tuple[Workers[Batch], Wake]] = {}


def checked_sizes(
    processors: object, batchers: object, known: Mapping[str, object]
) -> tuple[int | None, dict[str, int]]:
    """The sizes a resize asks for, checked as the options are; ConfigurationError names one."""
    count = None if processors is None else _size("processors.concurrency", processors)
    if batchers is None:
        batchers = {}
    if not isinstance(batchers, Mapping):
        raise ConfigurationError("batchers", "must map batcher names to a concurrency")
    sizes: dict[str, int] = {}
    for name, value in batchers.items():
        if name not in known:
            configured = ", ".join(sorted(known)) or "none"
            raise ConfigurationError(
                f"batchers.{name}", f"no such batcher (configured: {configured})"
            )
        sizes[name] = _size(f"batchers.{name}.concurrency", value)
    return count, sizes


def _size(option: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_WORKERS:
        raise ConfigurationError(
            option, f"must be a whole number from 1 to {MAX_WORKERS:_}, not {value!r}"
        )
    return value
