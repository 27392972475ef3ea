"""InFlight: every message the pipeline holds and has not yet acknowledged.

A message enters when a producer stage receives it and leaves just before its
acknowledger is called, so a message is acknowledged at most once by the
pipeline. Each message's ``holder`` says which stage group is responsible for
it; when the supervisor restarts groups, what those groups held is taken out
here and handed back to the broker.
"""

from __future__ import annotations

from collections.abc import Iterable

from broadway_py.message import Message


class InFlight:
    __slots__ = ("_messages",)

    def __init__(self) -> None:
        # A dict keeps insertion order: its first key is the oldest message.
        self._messages: dict[Message, None] = {}

    def __len__(self) -> int:
        return len(self._messages)

    def add(self, messages: Iterable[Message], now: float) -> None:
        held = self._messages
        for message in messages:
            message.holder = 0
            message.received_at = now
            held[message] = None

    def remove(self, messages: Iterable[Message]) -> None:
        held = self._messages
        for message in messages:
            held.pop(message, None)

    def replace(self, old: Message, new: Message) -> None:
        """A handler returned a different Message object for ``old``."""
        if self._messages.pop(old, 0) is None:
            new.holder = old.holder
            new.received_at = old.received_at
            self._messages[new] = None

    def take_held_from(self, group: int) -> list[Message]:
        """Remove and return the messages held by stage group ``group`` or later."""
        taken = [m for m in self._messages if m.holder >= group]
        self.remove(taken)
        return taken

    def oldest_received_at(self) -> float | None:
        return next(iter(self._messages)).received_at if self._messages else None
