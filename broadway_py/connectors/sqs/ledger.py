"""Ledger: the messages one producer received and has not yet settled.

Each received message has a :class:`Received` record (its ``ack_data``): the
latest receipt handle and when its visibility ends, on the event loop's clock.
The ledger is what the heartbeat extends, what a close releases, and how a
producer recognises a message it receives again:

- still held (a duplicate delivery, e.g. after an expired visibility): the
  record takes the new receipt handle and the copy is dropped, so the message
  is handled and acknowledged once;
- recently deleted: it is deleted again with its new handle, not handled;
- recently dead-lettered to the queue's redrive policy: released again, not
  handled, until SQS moves it to the dead-letter queue.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

Seen = Literal["new", "held", "deleted", "dead"]


@dataclass(slots=True, eq=False)
class Received:
    """One received message, as its acknowledger and the heartbeat need it."""

    message_id: str
    receipt_handle: str
    body: str
    deadline: float
    message_attributes: dict[str, Any] = field(default_factory=dict)
    group_id: str | None = None
    attempt: int = 1
    extendable: bool = True


class _Recent:
    """A bounded set that forgets its oldest entries."""

    __slots__ = ("_items", "_limit")

    def __init__(self, limit: int) -> None:
        self._items: OrderedDict[str, None] = OrderedDict()
        self._limit = limit

    def add(self, key: str) -> None:
        items = self._items
        items[key] = None
        items.move_to_end(key)
        while len(items) > self._limit:
            items.popitem(last=False)

    def discard(self, key: str) -> None:
        self._items.pop(key, None)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)


class Ledger:
    """Received-and-unsettled messages of one producer, by message id."""

    def __init__(self, remember: int = 10_000) -> None:
        self.held: dict[str, Received] = {}
        self.deleted = _Recent(remember)
        self.dead = _Recent(remember)

    def __len__(self) -> int:
        return len(self.held)

    def admit(self, received: Received) -> Seen:
        """Record a received message; says whether (and why) it must not be handled."""
        message_id = received.message_id
        held = self.held.get(message_id)
        if held is not None:
            held.receipt_handle = received.receipt_handle
            held.deadline = received.deadline
            held.extendable = True
            return "held"
        if message_id in self.deleted:
            return "deleted"
        if message_id in self.dead:
            return "dead"
        self.held[message_id] = received
        return "new"

    def settle(self, records: Iterable[Received]) -> None:
        """Stop holding these (their outcome is being carried out)."""
        held = self.held
        for record in records:
            if held.get(record.message_id) is record:
                del held[record.message_id]

    def mark_deleted(self, records: Iterable[Received]) -> None:
        for record in records:
            self.deleted.add(record.message_id)

    def mark_dead(self, records: Iterable[Received]) -> None:
        for record in records:
            self.dead.add(record.message_id)

    def due(self, now: float, margin: float) -> list[Received]:
        """Held messages whose visibility ends within ``margin`` seconds of ``now``."""
        limit = now + margin
        return [r for r in self.held.values() if r.extendable and r.deadline <= limit]

    def take_all(self) -> list[Received]:
        """Everything still held, which the ledger then forgets."""
        records = list(self.held.values())
        self.held.clear()
        return records


@dataclass
class Stats:
    """Counters of one producer, for tests, benchmarks and debugging."""

    receive_calls: int = 0
    received: int = 0
    duplicates: int = 0
    redeliveries_deleted: int = 0
    redeliveries_released: int = 0
    deleted: int = 0
    visibility_changed: int = 0
    dead_lettered: int = 0
    extended: int = 0
    released: int = 0
    dropped: int = 0
