"""At most one log line per interval for an event anyone can cause, however often.

A client that reaches the HTTP port can send bad requests as fast as it likes;
logging each would let it flood the logs (and fill the disk). A
:class:`RateLimitedLog` writes the first occurrence, drops the rest until
``interval`` seconds have passed, and says on its next line how many it dropped.
Pure apart from the logger it writes to; the clock is injected for tests.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any


class RateLimitedLog:
    """``log(level, msg, *args)``: written at most once per ``interval`` seconds."""

    __slots__ = ("_clock", "_logger", "_next", "interval", "suppressed")

    def __init__(
        self,
        logger: logging.Logger,
        interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self.interval = interval
        self._clock = clock
        self._next = float("-inf")
        self.suppressed = 0

    def log(self, level: int, msg: str, *args: Any, exc_info: Any = None) -> bool:
        """Write the line unless one was written within the interval; True if written."""
        if not self._logger.isEnabledFor(level):
            return False
        now = self._clock()
        if now < self._next:
            self.suppressed += 1
            return False
        self._next = now + self.interval
        if self.suppressed:
            msg += f" ({self.suppressed} more like it since the last such line, not logged)"
            self.suppressed = 0
        self._logger.log(level, msg, *args, exc_info=exc_info)
        return True
