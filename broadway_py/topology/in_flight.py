"""InFlight: every message the pipeline holds and has not yet acknowledged.

The hot path pays for it once per chunk, not once per message: a producer
stage stamps what it received (``received_at``, and its own index in
``received_by``) and counts it in, the
terminator counts out what it hands to an acknowledger, and in between a
message is always in exactly one *place*: a stage's
:class:`~broadway_py.topology.holding.Holding`, a
:class:`~broadway_py.topology.channel.Channel` or a batch accumulator. Each
place is registered under the stage group that owns it (producers 0,
processors 1, batchers 2). The messages themselves are looked for only when
they are needed: by a restart, which takes out what the restarted groups
held to hand it back to the broker, and by a scrape, for the oldest age (of
the pipeline, and of each producer's messages).

A stage lets go of messages *before* it calls the terminator with them, so a
message is acknowledged at most once by the pipeline, even when a stage is
cancelled in the middle of an ack.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

from broadway_py.message import Message


class Place(Protocol):
    """Somewhere messages wait between being received and being acknowledged."""

    def held(self) -> Iterator[Message]:
        """The messages here now (no copy: for a quick look)."""
        ...

    def take_all(self) -> list[Message]:
        """Remove every message from here, and return them."""
        ...


class InFlight:
    __slots__ = ("_places", "count")

    def __init__(self) -> None:
        self.count = 0
        self._places: list[tuple[int, Place]] = []

    def __len__(self) -> int:
        return self.count

    def register(self, group: int, place: Place) -> None:
        """Messages in ``place`` are held by stage group ``group``."""
        self._places.append((group, place))

    def unregister(self, place: Place) -> None:
        """``place`` is gone (a resize took it away, empty): stop looking there."""
        self._places = [(g, p) for g, p in self._places if p is not place]

    def receive(self, messages: Sequence[Message], now: float, producer: int = 0) -> None:
        """Count in new messages, stamped with when and by which producer they were received."""
        for message in messages:
            message.received_at = now
            message.received_by = producer
        self.count += len(messages)

    def settle(self, count: int) -> None:
        """``count`` messages are about to be acknowledged."""
        self.count -= count

    def take_held_from(self, group: int) -> list[Message]:
        """Take out the messages held by stage group ``group`` or a later one.

        Only while the stages of those groups are stopped (a restart).
        """
        taken: dict[int, Message] = {}
        for owner, place in self._places:
            if owner >= group:
                for message in place.take_all():
                    taken.setdefault(id(message), message)
        return list(taken.values())

    def oldest_received_at(self) -> float | None:
        """When the oldest message in flight was received; None when there is none.

        Safe from another thread (a scrape): a place that changed under the
        look is looked at again.
        """
        for _ in range(10):
            try:
                return min(
                    (m.received_at for _, place in self._places for m in place.held()),
                    default=None,
                )
            except RuntimeError:  # a deque or dict changed size while read
                continue
        return None

    def oldest_received_at_by_producer(self) -> dict[int, float]:
        """When the oldest message in flight of each producer instance was received.

        Only producers with a message in flight are there. A message a handler
        replaced with a new one counts for producer 0. Safe from another thread,
        as :meth:`oldest_received_at`; one pass over what is held, at a scrape.
        """
        for _ in range(10):
            oldest: dict[int, float] = {}
            try:
                for _, place in self._places:
                    for message in place.held():
                        producer = message.received_by
                        seen = oldest.get(producer)
                        if seen is None or message.received_at < seen:
                            oldest[producer] = message.received_at
            except RuntimeError:  # a deque or dict changed size while read
                continue
            return oldest
        return {}
