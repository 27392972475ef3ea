"""What every connector's dead-letter tools share: a dead letter as read, and the protocol.

``broadway-py dlq`` (``broadway_py/service/dlq.py``) opens a connector's
:class:`DeadLetterStore` through the registry and never sees a broker client.
Each broker's store lives in ``connectors/<broker>/dead_letters.py`` and reads
the headers (or message attributes) its own dead-letter code wrote.

The contract every store keeps:

- :meth:`DeadLetterStore.peek` reads at most ``limit`` dead letters and leaves
  them where they were (none consumed, none removed);
- :meth:`DeadLetterStore.replay` sends each chosen dead letter back to its
  source with the attempt count reset, and removes it from the dead-letter
  destination only once the broker confirmed the copy, so an interrupted
  replay loses nothing (it may send a copy again on the next run);
- :meth:`DeadLetterStore.purge` removes every dead letter.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from broadway_py.errors import BroadwayError


@dataclass(frozen=True)
class DeadLetter:
    """One dead letter, as its copy in the dead-letter destination carries it."""

    id: str
    """The message's id (the one the pipeline gave it), or the copy's own when none."""
    attempts: int | None
    """Deliveries made before it was dead-lettered, when the copy says."""
    reason: str | None
    """Why it failed, when the copy says."""
    source: str | None
    """The queue or topic it came from, where a replay sends it."""
    dead_lettered_at: float | None
    """Unix time (seconds) it was dead-lettered, when the copy says."""
    payload: bytes
    """The message body, as it was received."""
    position: str = ""
    """Where the copy sits in the dead-letter destination (broker terms), for messages."""


Select = Callable[[DeadLetter], bool]
"""Which dead letters a replay sends back."""


class DeadLetterStore(Protocol):
    """A broker's dead-letter destination, seen by the ``dlq`` command."""

    @property
    def destination(self) -> str:
        """The dead-letter queue or topic, as people name it (no credentials)."""
        ...

    async def peek(self, limit: int) -> list[DeadLetter]:
        """At most ``limit`` dead letters, oldest first, left in place."""
        ...

    async def replay(
        self,
        select: Select,
        *,
        limit: int | None = None,
        on_replayed: Callable[[DeadLetter], None] | None = None,
    ) -> int:
        """Send the chosen dead letters (at most ``limit``) back; returns how many."""
        ...

    async def purge(self) -> int:
        """Remove every dead letter; returns how many (as far as the broker says)."""
        ...

    async def close(self) -> None: ...


class NoDeadLetterDestination(BroadwayError):
    """The connector keeps its dead letters nowhere a separate process can read."""
