"""InFlight: every message the pipeline holds and has not yet acknowledged.

A message enters when a producer stage receives it and leaves just before its
acknowledger is called, so a message is acknowledged at most once by the
pipeline. Each message's ``holder`` says which stage group is responsible for
it; when the supervisor restarts groups, what those groups held is taken out
here and handed back to the broker.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from itertools import repeat

from broadway_py.message import Message


class InFlight:
    __slots__ = ("_messages",)

    def __init__(self) -> None:
        # Message -> when it was received. A dict keeps insertion order, so its
        # first value is the oldest message's.
        self._messages: dict[Message, float] = {}

    def __len__(self) -> int:
        return len(self._messages)

    def add(self, messages: Iterable[Message], now: float) -> None:
        """Register new messages (their ``holder`` starts at 0, the producers)."""
        self._messages.update(dict.fromkeys(messages, now))

    def remove(self, messages: Sequence[Message]) -> None:
        # map() runs the pops at C speed; the deque throws the results away.
        deque(map(self._messages.pop, messages, repeat(None, len(messages))), maxlen=0)

    def replace(self, old: Message, new: Message) -> None:
        """A handler returned a different Message object for ``old``."""
        received_at = self._messages.pop(old, None)
        if received_at is not None:
            new.holder = old.holder
            self._messages[new] = received_at

    def take_held_from(self, group: int) -> list[Message]:
        """Remove and return the messages held by stage group ``group`` or later."""
        taken = [m for m in self._messages if m.holder >= group]
        self.remove(taken)
        return taken

    def oldest_received_at(self) -> float | None:
        return next(iter(self._messages.values())) if self._messages else None
