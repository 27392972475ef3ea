"""Stop: the signal that ends a producer's background sleeps early.

Reconnect waits, commit intervals and retry pauses must not outlive a drain
or a close: each sleeps through :meth:`Stop.pause`, which returns as soon as
the signal is set.
"""

from __future__ import annotations

import asyncio
import contextlib


class Stop:
    """Set once, when the producer stops (or closes); pauses end then."""

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def __bool__(self) -> bool:
        return self._event.is_set()

    def set(self) -> None:
        self._event.set()

    async def pause(self, seconds: float) -> bool:
        """Sleep ``seconds``, or less when stopped meanwhile; True when stopped."""
        if seconds > 0 and not self._event.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event.wait(), seconds)
        return self._event.is_set()
