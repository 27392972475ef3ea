"""The restart intensity and backoff of ``run --workers N``'s parent (a fake clock)."""

from __future__ import annotations

import random

from broadway_py.service.restart_policy import (
    RESTART_JITTER,
    RESTART_MAX_DELAY,
    RESTART_MIN_DELAY,
    RestartPolicy,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def policy(max_restarts: int, max_seconds: float, clock: Clock) -> RestartPolicy:
    return RestartPolicy(max_restarts, max_seconds, clock, random.Random(7))


def test_past_max_restarts_within_max_seconds_it_gives_up() -> None:
    clock = Clock()
    restarts = policy(3, 5.0, clock)
    delays = []
    for index in (0, 1, 0):
        delays.append(restarts.died(index))
        clock.now += 1
    assert all(d is not None for d in delays)
    assert restarts.died(1) is None  # the 4th death within 5 s


def test_restarts_older_than_the_window_no_longer_count() -> None:
    clock = Clock()
    restarts = policy(2, 5.0, clock)
    assert restarts.died(0) is not None
    assert restarts.died(0) is not None
    clock.now += 5.0  # both restarts leave the window
    assert restarts.died(0) is not None
    assert restarts.died(1) is not None
    assert restarts.died(0) is None


def test_max_restarts_0_gives_up_at_the_first_death() -> None:
    assert policy(0, 5.0, Clock()).died(0) is None


def test_the_backoff_grows_with_that_workers_own_restarts() -> None:
    clock = Clock()
    restarts = RestartPolicy(100, 1000.0, clock, random.Random(1))
    own = [restarts.died(0) for _ in range(12)]
    other = restarts.died(1)
    assert own[0] is not None
    assert own[0] <= RESTART_MIN_DELAY * (1 + RESTART_JITTER)
    assert own[3] is not None
    assert own[3] >= RESTART_MIN_DELAY * 8 * (1 - RESTART_JITTER)  # 2**3 times the first
    assert own[-1] is not None
    assert own[-1] <= RESTART_MAX_DELAY  # capped
    assert other is not None
    assert other <= RESTART_MIN_DELAY * (1 + RESTART_JITTER)  # worker 1's first restart


def test_it_says_the_intensity_it_applies() -> None:
    assert policy(3, 5.0, Clock()).describe() == (
        "more than supervisor.max_restarts (3) worker restarts within supervisor.max_seconds (5s)"
    )
