"""The pipeline's one rate limiter, shared by every producer stage.

At most ``allowed_messages`` are granted per ``interval``; producers ask for
their demand and fetch only what was granted. Both settings can be changed
while the pipeline runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from broadway_py.futures import resolve


class RateLimiter:
    def __init__(
        self, allowed_messages: int, interval: float, clock: Callable[[], float] | None = None
    ) -> None:
        self.allowed_messages = allowed_messages
        self.interval = interval
        self._clock = clock
        self._left = allowed_messages
        self._resets_at: float | None = None
        self._closed = False
        self._sleepers: set[asyncio.Future[None]] = set()

    def _now(self) -> float:
        return self._clock() if self._clock is not None else asyncio.get_running_loop().time()

    def _refill(self, now: float) -> None:
        if self._resets_at is None or now >= self._resets_at:
            self._left = self.allowed_messages
            self._resets_at = now + self.interval

    def try_acquire(self, wanted: int) -> int:
        """Grant up to ``wanted`` now; 0 when this interval's allowance is spent."""
        self._refill(self._now())
        granted = min(wanted, self._left)
        self._left -= granted
        return granted

    async def acquire(self, wanted: int) -> tuple[int, float]:
        """Wait until at least one message is allowed; returns (granted, seconds waited).

        Returns ``(0, waited)`` once the limiter was closed (a drain began).
        """
        waited = 0.0
        loop = asyncio.get_running_loop()
        while not self._closed:
            granted = self.try_acquire(wanted)
            if granted:
                return granted, waited
            assert self._resets_at is not None
            sleeper = loop.create_future()
            self._sleepers.add(sleeper)
            timer = loop.call_later(max(self._resets_at - self._now(), 0.0), resolve, sleeper)
            started = loop.time()
            try:
                await sleeper
            finally:
                timer.cancel()
                self._sleepers.discard(sleeper)
                waited += loop.time() - started
        return 0, waited

    def close(self) -> None:
        """Grant nothing more and wake every waiting ``acquire``: the pipeline drains."""
        self._closed = True
        for sleeper in self._sleepers:
            resolve(sleeper)

    def give_back(self, unused: int) -> None:
        """Return what was granted but not fetched, to this interval's allowance."""
        self._left = min(self._left + unused, self.allowed_messages)

    def update(self, allowed_messages: int | None = None, interval: float | None = None) -> None:
        if allowed_messages is not None:
            self._left += allowed_messages - self.allowed_messages
            self._left = max(self._left, 0)
            self.allowed_messages = allowed_messages
        if interval is not None:
            self.interval = interval
            self._resets_at = None
