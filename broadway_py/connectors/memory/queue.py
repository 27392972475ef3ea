"""MemoryQueue: a named in-memory queue that honours acks, retries and dead letters.

Push to it from Python; a :class:`~broadway_py.connectors.memory.producer.MemoryProducer`
takes from it. A message's id (``push`` returns it) is its ``message.id``, as
text, on every delivery. Each delivery gets a fresh delivery tag and is held
as unacked until its outcome arrives:

- success: dropped;
- retry(delay): delivered again after ``delay`` with ``attempt + 1``;
- dead_letter: appended to :attr:`MemoryQueue.dead_letters`;
- discard: dropped.

A traced pipeline's retry and dead letter carry the failed attempt's trace
context in ``metadata["headers"]`` (as a copy would at a broker).

When a producer closes (a drain, or a crash), what it took and never acked
goes back to the front of the queue with ``attempt + 1``. An ack that comes
for a delivery that was already handed back is stale: counted, never applied.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from broadway_py.acknowledger import Failed, Outcomes
from broadway_py.message import Message
from broadway_py.tracer import copy_context


class Entry:
    """One message in the queue, across its deliveries."""

    __slots__ = ("attempt", "data", "id", "message_id", "metadata")

    def __init__(self, entry_id: int, data: Any, metadata: dict[str, Any]) -> None:
        self.id = entry_id
        #: ``message.id`` of each of its deliveries: the id as text, made once.
        self.message_id = str(entry_id)
        self.data = data
        self.metadata = metadata
        self.attempt = 1


@dataclass(frozen=True, slots=True)
class DeadLetter:
    id: int
    data: Any
    metadata: dict[str, Any]
    reason: str
    attempt: int


@dataclass
class QueueStats(Outcomes):
    """What the queue did: its deliveries, and the outcomes it applied (core's counter)."""

    pushed: int = 0
    delivered: int = 0
    redelivered: int = 0
    stale_acks: int = 0

    @property
    def acked(self) -> int:
        """Messages acknowledged as successful (the name the examples and tests read)."""
        return self.successful


@dataclass
class OutcomeLog:
    """Per-message outcomes, recorded when the queue is made with ``record=True``."""

    by_id: dict[int, list[str]] = field(default_factory=dict)

    def add(self, entry_id: int, outcome: str) -> None:
        self.by_id.setdefault(entry_id, []).append(outcome)


class MemoryQueue:
    def __init__(self, name: str, record: bool = False) -> None:
        self.name = name
        self.stats = QueueStats()
        self.dead_letters: list[DeadLetter] = []
        self.outcomes: OutcomeLog | None = OutcomeLog() if record else None
        self._ready: deque[Entry] = deque()
        self._unacked: dict[int, tuple[Entry, Hashable]] = {}
        self._delayed = 0
        self._next_id = 0
        self._next_tag = 0
        self._waiters: list[asyncio.Future[None]] = []
        self._idle_waiters: list[asyncio.Future[None]] = []

    # -- what users and tests call ---------------------------------------------------

    def push(self, data: Any, metadata: dict[str, Any] | None = None) -> int:
        """Enqueue one message; returns its id (also in ``metadata["id"]``)."""
        self._next_id += 1
        entry_id = self._next_id
        meta = {"queue": self.name, "id": entry_id}
        if metadata:
            meta.update(metadata)
        self._ready.append(Entry(entry_id, data, meta))
        self.stats.pushed += 1
        self._wake()
        return entry_id

    def push_many(self, items: Iterable[Any]) -> list[int]:
        return [self.push(item) for item in items]

    @property
    def ready(self) -> int:
        """Messages waiting to be delivered."""
        return len(self._ready)

    @property
    def unacked(self) -> int:
        """Messages delivered and not yet acknowledged."""
        return len(self._unacked)

    @property
    def delayed(self) -> int:
        """Messages waiting out a retry delay."""
        return self._delayed

    def is_idle(self) -> bool:
        return not self._ready and not self._unacked and not self._delayed

    async def wait_idle(self, timeout: float) -> None:
        """Wait until nothing is ready, unacked or delayed; TimeoutError after ``timeout``."""
        async with asyncio.timeout(timeout):
            while not self.is_idle():
                waiter = asyncio.get_running_loop().create_future()
                self._idle_waiters.append(waiter)
                await waiter

    # -- what the producer calls ------------------------------------------------------

    def take(self, demand: int, lease: Hashable, acknowledger: Any) -> list[Message]:
        """Deliver up to ``demand`` ready messages under ``lease``."""
        ready = self._ready
        count = min(demand, len(ready))
        if not count:
            return []
        unacked = self._unacked
        tag = self._next_tag
        messages = []
        popleft = ready.popleft
        for _ in range(count):
            entry = popleft()
            tag += 1
            unacked[tag] = (entry, lease)
            messages.append(
                Message(
                    entry.data,
                    acknowledger,
                    lease,
                    tag,
                    entry.metadata,
                    entry.attempt,
                    entry.message_id,
                )
            )
        self._next_tag = tag
        self.stats.delivered += count
        return messages

    def waiter(self) -> asyncio.Future[None]:
        """A future resolved when a message is pushed (or re-queued)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        return future

    def settle(self, successful: Sequence[Message], failed: Sequence[Message]) -> None:
        """Apply the outcomes of delivered messages (``failed``: see :class:`Failed`)."""
        unacked = self._unacked
        stats = self.stats
        outcomes = self.outcomes
        for message in successful:
            held = unacked.pop(message.ack_data, None)
            if held is None:
                stats.stale_acks += 1
                continue
            stats.successful += 1
            if outcomes is not None:
                outcomes.add(held[0].id, "acked")
        if failed:
            self._fail(failed if isinstance(failed, Failed) else Failed.of(failed))
        if self._idle_waiters and self.is_idle():
            self._wake_idle()

    def release(self, lease: Hashable) -> int:
        """Put back what ``lease`` took and never acked; returns how many."""
        returned = [(tag, entry) for tag, (entry, owner) in self._unacked.items() if owner == lease]
        for tag, entry in reversed(returned):
            del self._unacked[tag]
            entry.attempt += 1
            self._ready.appendleft(entry)
        if returned:
            self.stats.redelivered += len(returned)
            self._wake()
        return len(returned)

    # -- internals ----------------------------------------------------------------

    def _fail(self, failed: Failed) -> None:
        stats = self.stats
        for message, decision in failed.retry:
            entry = self._held(message, "retried")
            if entry is not None:
                stats.retried += 1
                if message.trace is not None:
                    entry.metadata = _with_trace(entry.metadata, copy_context(message))
                entry.attempt += 1
                if decision.delay > 0:
                    self._delayed += 1
                    asyncio.get_running_loop().call_later(decision.delay, self._requeue, entry)
                else:
                    self._ready.append(entry)
                    self._wake()
        for message, decision in failed.dead_letter:
            entry = self._held(message, "dead_lettered")
            if entry is not None:
                stats.dead_lettered += 1
                if message.trace is not None:
                    entry.metadata = _with_trace(entry.metadata, copy_context(message))
                reason = decision.reason or message.status.reason
                self.dead_letters.append(
                    DeadLetter(entry.id, entry.data, entry.metadata, reason, entry.attempt)
                )
        for message, _ in failed.discard:
            if self._held(message, "discarded") is not None:
                stats.discarded += 1

    def _held(self, message: Message, outcome: str) -> Entry | None:
        """The entry of a delivery that is still unacked, now settled with ``outcome``.

        None for a stale ack (counted): the delivery was handed back meanwhile.
        """
        held = self._unacked.pop(message.ack_data, None)
        if held is None:
            self.stats.stale_acks += 1
            return None
        entry = held[0]
        if self.outcomes is not None:
            self.outcomes.add(entry.id, outcome)
        return entry

    def _requeue(self, entry: Entry) -> None:
        self._delayed -= 1
        self._ready.append(entry)
        self._wake()

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _wake_idle(self) -> None:
        waiters, self._idle_waiters = self._idle_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)


def _with_trace(metadata: dict[str, Any], context: Mapping[str, str]) -> dict[str, Any]:
    """An entry's metadata with the failed attempt's trace context in its ``headers``.

    A new dict: the delivery that failed keeps the metadata it was handed.
    """
    headers = metadata.get("headers")
    merged = {**headers, **context} if isinstance(headers, Mapping) else dict(context)
    return {**metadata, "headers": merged}
