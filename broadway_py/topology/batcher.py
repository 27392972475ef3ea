"""BatchAccumulator: groups messages into batches. Pure: the clock is passed in.

Messages are grouped by ``(lane, batch_key)``; the lane is the batch processor
a ``partition_by`` key maps to (0 without it). A batch closes when it reaches
``batch_size`` messages or ``max_bytes`` bytes, when a ``flush`` message joins
it, or when ``batch_timeout`` passed since it opened. Each open batch has one
deadline, kept in a heap; closed batches leave stale heap entries that are
skipped lazily.
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable, Iterable, Iterator
from dataclasses import dataclass
from itertools import chain

from broadway_py.message import BatchInfo, BatchTrigger, Message
from broadway_py.options import BatcherOptions, default_message_size


@dataclass(slots=True)
class Batch:
    messages: list[Message]
    info: BatchInfo

    def __len__(self) -> int:
        return len(self.messages)

    def __iter__(self) -> Iterator[Message]:
        return iter(self.messages)


class _Open:
    __slots__ = ("bytes", "deadline", "messages")

    def __init__(self, deadline: float) -> None:
        self.messages: list[Message] = []
        self.bytes = 0
        self.deadline = deadline


BatchKey = tuple[int, Hashable]
_NO_KEY: Hashable = object()


class BatchAccumulator:
    def __init__(self, options: BatcherOptions) -> None:
        self.name = options.name
        self.batch_size = options.batch_size
        self.batch_timeout = options.batch_timeout
        self.max_bytes = options.max_bytes
        self.size_of = options.message_size or default_message_size
        self.lanes = options.concurrency
        # With one batch processor every key already goes to the same one.
        self.partition_by = options.partition_by if self.lanes > 1 else None
        self._open: dict[BatchKey, _Open] = {}
        self._deadlines: list[tuple[float, int, BatchKey]] = []
        self._sequence = 0

    def __len__(self) -> int:
        """How many messages wait in open batches."""
        return sum(len(batch.messages) for batch in self._open.values())

    def add(self, messages: Iterable[Message], now: float) -> list[Batch]:
        """Add messages; returns the batches that closed."""
        if self.partition_by is not None or self.max_bytes is not None:
            return self._add_each(messages, now)
        # Fast path: no lanes, no byte limit; only the count and flush mode close.
        if not isinstance(messages, list):
            messages = list(messages)
        if messages:
            first_key = messages[0].batch_key
            for message in messages:  # one pass: do they all share a key, in bulk mode?
                if message.batch_key is not first_key or message.batch_mode != "bulk":
                    break
            else:
                return self._add_run(messages, first_key, now)
        # Consecutive messages mostly share their batch key: look it up once per run.
        closed: list[Batch] = []
        opened = self._open
        size = self.batch_size
        last_key: Hashable = _NO_KEY
        key: BatchKey = (0, None)
        batch_messages: list[Message] = []
        for message in messages:
            batch_key = message.batch_key
            if batch_key is not last_key:
                key = (0, batch_key)
                batch = opened.get(key)
                if batch is None:
                    batch = opened[key] = self._start(key, now)
                batch_messages = batch.messages
                last_key = batch_key
            batch_messages.append(message)
            if len(batch_messages) >= size:
                closed.append(self._close(key, "size"))
                last_key = _NO_KEY
            elif message.batch_mode == "flush":
                closed.append(self._close(key, "flush"))
                last_key = _NO_KEY
        return closed

    def _add_run(self, messages: list[Message], batch_key: Hashable, now: float) -> list[Batch]:
        """Bulk messages that share one batch key: fill batches by slices."""
        closed: list[Batch] = []
        key = (0, batch_key)
        start, count = 0, len(messages)
        while start < count:
            batch = self._open.get(key)
            if batch is None:
                batch = self._open[key] = self._start(key, now)
            room = self.batch_size - len(batch.messages)
            batch.messages.extend(messages[start : start + room])
            start += room
            if len(batch.messages) >= self.batch_size:
                closed.append(self._close(key, "size"))
        return closed

    def _add_each(self, messages: Iterable[Message], now: float) -> list[Batch]:
        closed: list[Batch] = []
        opened = self._open
        size = self.batch_size
        partition_by = self.partition_by
        lanes = self.lanes
        for message in messages:
            lane = hash(partition_by(message)) % lanes if partition_by is not None else 0
            key = (lane, message.batch_key)
            batch = opened.get(key)
            if batch is None:
                batch = opened[key] = self._start(key, now)
            batch.messages.append(message)
            trigger: BatchTrigger | None = None
            if self.max_bytes is not None:
                batch.bytes += self.size_of(message)
                if batch.bytes >= self.max_bytes:
                    trigger = "bytes"
            if len(batch.messages) >= size:
                trigger = "size"
            elif message.batch_mode == "flush":
                trigger = "flush"
            if trigger is not None:
                closed.append(self._close(key, trigger))
        return closed

    def expire(self, now: float) -> list[Batch]:
        """Close the batches whose deadline has come."""
        closed: list[Batch] = []
        heap = self._deadlines
        while heap and heap[0][0] <= now:
            deadline, _, key = heapq.heappop(heap)
            batch = self._open.get(key)
            if batch is not None and batch.deadline == deadline:
                closed.append(self._close(key, "timeout"))
        return closed

    def next_deadline(self) -> float | None:
        heap = self._deadlines
        while heap:
            deadline, _, key = heap[0]
            batch = self._open.get(key)
            if batch is not None and batch.deadline == deadline:
                return deadline
            heapq.heappop(heap)
        return None

    def flush_all(self) -> list[Batch]:
        """Close every open batch (drain)."""
        closed = [self._close(key, "drain") for key in list(self._open)]
        self._deadlines.clear()
        return closed

    def held(self) -> Iterator[Message]:
        """The messages in open batches (an in-flight place)."""
        return chain.from_iterable(batch.messages for batch in self._open.values())

    def take_all(self) -> list[Message]:
        """Drop every open batch and return its messages (a restart)."""
        taken = list(self.held())
        self._open.clear()
        self._deadlines.clear()
        return taken

    def _start(self, key: BatchKey, now: float) -> _Open:
        deadline = now + self.batch_timeout
        self._sequence += 1
        heapq.heappush(self._deadlines, (deadline, self._sequence, key))
        return _Open(deadline)

    def _close(self, key: BatchKey, trigger: BatchTrigger) -> Batch:
        batch = self._open.pop(key)
        info = BatchInfo(self.name, key[1], len(batch.messages), trigger, key[0])
        return Batch(batch.messages, info)
