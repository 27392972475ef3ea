"""When to restart a worker process that died, and when to give up: pure, clock injected.

The parent of ``run --workers N`` applies the pipeline's own restart
intensity (``supervisor.max_restarts`` restarts within
``supervisor.max_seconds``) to its worker processes, counted over all of them
as the pipeline's supervisor counts its stages: the death that would be restart
number ``max_restarts + 1`` within the window gives up. Each restart waits a
backoff (:func:`~broadway_py.retry.exponential_backoff`, the same curve as
retries and reconnects) that grows with that worker's own restarts within the
window, so a worker that keeps dying at start is not restarted in a tight loop.
"""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from broadway_py.retry import exponential_backoff

RESTART_MIN_DELAY = 0.5
"""Seconds before the first restart of a worker."""
RESTART_MAX_DELAY = 10.0
"""The longest wait before restarting a worker."""
RESTART_MULTIPLIER = 2.0
RESTART_JITTER = 0.2


@dataclass
class RestartPolicy:
    """Counts worker deaths; :meth:`died` says how long to wait before the restart, or None."""

    max_restarts: int
    max_seconds: float
    clock: Callable[[], float] = time.monotonic
    rng: random.Random | None = None
    _restarts: deque[tuple[float, int]] = field(default_factory=deque, init=False)

    def died(self, index: int) -> float | None:
        """Worker ``index`` died: seconds to wait before restarting it, or None to give up."""
        now = self.clock()
        while self._restarts and self._restarts[0][0] <= now - self.max_seconds:
            self._restarts.popleft()
        if len(self._restarts) >= self.max_restarts:
            return None
        self._restarts.append((now, index))
        attempt = sum(1 for _, which in self._restarts if which == index)
        return exponential_backoff(
            attempt,
            RESTART_MIN_DELAY,
            RESTART_MAX_DELAY,
            RESTART_MULTIPLIER,
            RESTART_JITTER,
            self.rng,
        )

    def describe(self) -> str:
        """The intensity, for the line that says why the parent gave up."""
        return (
            f"more than supervisor.max_restarts ({self.max_restarts}) worker restarts "
            f"within supervisor.max_seconds ({self.max_seconds:g}s)"
        )
