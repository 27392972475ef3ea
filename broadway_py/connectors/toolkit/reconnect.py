"""Reconnecting: the backoff options, the link state, and the loop every connector uses.

- :class:`ReconnectOptions` is the one ``reconnect:`` section of every
  connector's options (its delays come from :func:`~broadway_py.retry.exponential_backoff`,
  the formula the retry policy uses too);
- :class:`Link` is one producer's connection as it reports it: each failed
  attempt is one warning line and one ``ProducerConnected(False, reason)``;
  coming up (again) is one ``ProducerConnected(True)``;
- :func:`keep_trying` pauses, tries again, and counts the failures on the link,
  until an attempt works or the producer stops.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable

from pydantic import BaseModel, ConfigDict, Field, model_validator

from broadway_py.errors import BrokerUnavailable
from broadway_py.retry import exponential_backoff
from broadway_py.telemetry import ProducerConnected, Telemetry

_MAX_SECONDS = 7 * 24 * 3600.0
"""A reconnect delay is at most a week."""


class ReconnectOptions(BaseModel):
    """Backoff between connection attempts: exponential, capped, jittered."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_delay: float = Field(
        default=0.5, gt=0, le=_MAX_SECONDS, description="Seconds before the first retry."
    )
    max_delay: float = Field(
        default=30.0, gt=0, le=_MAX_SECONDS, description="Longest wait between attempts."
    )
    multiplier: float = Field(
        default=2.0, ge=1, description="Growth of the wait per failed attempt."
    )
    jitter: float = Field(
        default=0.2, ge=0, le=1, description="Random spread of each wait (0.2 is +-20%)."
    )

    @model_validator(mode="after")
    def _ordered(self) -> ReconnectOptions:
        if self.max_delay < self.min_delay:
            raise ValueError("reconnect.max_delay must be at least reconnect.min_delay")
        return self

    def delay(self, failures: int, rng: random.Random | None = None) -> float:
        """The wait after ``failures`` consecutive failed attempts (1 = the first)."""
        return exponential_backoff(
            failures, self.min_delay, self.max_delay, self.multiplier, self.jitter, rng
        )


class Link:
    """One producer's connection as it reports it: up or down, failed attempts so far.

    ``what`` starts each attempt's log line: "kafka: cannot connect" gives
    ``kafka: cannot connect (attempt 2 failed): <why>; retrying in 1.0s``.
    """

    __slots__ = ("_log", "_what", "connected", "failures", "options", "telemetry")

    def __init__(self, options: ReconnectOptions, log: logging.Logger, what: str) -> None:
        self.options = options
        self.connected = False
        self.failures = 0
        self.telemetry: Telemetry | None = None
        self._log = log
        self._what = what

    def failed(self, error: BaseException) -> float:
        """An attempt failed: one line, one report; returns the seconds before the next."""
        self.failures += 1
        delay = self.options.delay(self.failures)
        self._log.warning(
            "%s (attempt %d failed): %s; retrying in %.1fs", self._what, self.failures, error, delay
        )
        self.down(str(error))
        return delay

    def down(self, reason: str) -> None:
        """Not connected (lost, refused, closed): reported every time, with the reason."""
        self.connected = False
        self._report(ProducerConnected(False, reason))

    def up(self) -> int:
        """Connected: reported when it was not; returns the failed attempts before it."""
        failures, self.failures = self.failures, 0
        if not self.connected:
            self.connected = True
            self._report(ProducerConnected(True))
        return failures

    def _report(self, event: ProducerConnected) -> None:
        telemetry = self.telemetry
        if telemetry is not None and telemetry.enabled:
            telemetry.emit(event)


async def keep_trying(
    attempt: Callable[[], Awaitable[None]],
    link: Link,
    pause: Callable[[float], Awaitable[bool]],
    delay: float,
    retry_on: tuple[type[BaseException], ...] = (BrokerUnavailable,),
) -> bool:
    """After a failed attempt: pause ``delay`` seconds, then ``attempt`` again, until it works.

    Each failure of a ``retry_on`` kind is counted on ``link`` (which logs and
    reports it and gives the next delay); any other error propagates. Returns
    True once an attempt works, False when ``pause`` says the producer stopped.
    The attempt reports success itself (``link.up()``), as a first attempt does.
    """
    while not await pause(delay):
        try:
            await attempt()
        except retry_on as error:
            delay = link.failed(error)
        else:
            return True
    return False
