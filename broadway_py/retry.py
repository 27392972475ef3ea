"""Retry policy: turns a failed message into a Decision. Pure; no I/O.

The decision is made once, in core, by :meth:`RetryPolicy.decide`, and carried
out by the message's connector in its broker's own terms (a delay queue, a
retry topic, a visibility change, ...).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Literal

from broadway_py.errors import ConfigurationError, PoisonMessageError
from broadway_py.message import Message
from broadway_py.option_spec import WEEK, check_options, option

DecisionKind = Literal["retry", "dead_letter", "discard"]


@dataclass(frozen=True, slots=True)
class Decision:
    """What the connector must do with a failed message."""

    kind: DecisionKind
    delay: float = 0.0
    reason: str = ""

    @staticmethod
    def retry(delay: float, reason: str = "") -> Decision:
        return Decision("retry", delay, reason)

    @staticmethod
    def dead_letter(reason: str = "") -> Decision:
        return Decision("dead_letter", 0.0, reason)

    @staticmethod
    def discard(reason: str = "") -> Decision:
        return Decision("discard", 0.0, reason)

    def __repr__(self) -> str:
        return f"retry({self.delay:.3f}s)" if self.kind == "retry" else self.kind


def exponential_backoff(
    attempt: int,
    min_delay: float,
    max_delay: float,
    multiplier: float = 2.0,
    jitter: float = 0.0,
    rng: random.Random | None = None,
) -> float:
    """``min_delay * multiplier ** (attempt - 1)``, capped at ``max_delay``, spread by ``jitter``.

    ``jitter`` is a fraction: 0.2 spreads the delay over +-20%. The result is
    never above ``max_delay`` and never below ``min_delay * (1 - jitter)``.
    Shared by the retry policy and the connectors' reconnect loops.
    """
    exponent = min(max(attempt - 1, 0), 64)
    delay = min(min_delay * multiplier**exponent, max_delay)
    if jitter:
        delay *= 1 + jitter * (2 * (rng or random).random() - 1)
    return min(max(delay, min_delay * (1 - jitter)), max_delay)


@dataclass(frozen=True)
class RetryPolicy:
    """How failures are retried.

    A failed message is retried while ``attempt < max_attempts``, after an
    exponential backoff ``min_delay * multiplier ** (attempt - 1)`` with
    ``jitter`` (a fraction: 0.2 spreads each delay over +-20%), clamped to
    ``[min_delay, max_delay]``. A message whose exception is one of
    ``never_retry`` (or any :class:`~broadway_py.errors.PoisonMessageError`)
    is not retried. What is not retried is dead-lettered, or discarded when
    ``dead_letter`` is false.
    """

    # The options, each defined once (option_spec): the pipeline file's schema,
    # the docs table and the checks below all come from these lines.
    max_attempts: int = option(
        3, "deliveries of a message before it is given up", least=1, most=1_000
    )
    min_delay: float = option(1.0, "seconds before the first retry", least=0, most=WEEK)
    max_delay: float = option(60.0, "the longest delay", least=0, most=WEEK)
    multiplier: float = option(2.0, "growth of the delay per attempt", least=1, most=100.0)
    jitter: float = option(0.2, "random spread of each delay (0.2 = ±20%)", least=0, most=1)
    never_retry: tuple[type[BaseException], ...] = option(
        (),
        "exceptions never retried: `package.module:Class` or a built-in name (`ValueError`)",
        reference=True,
    )
    dead_letter: bool = option(True, "what is not retried is dead-lettered; false: discarded")
    rng: random.Random = field(default_factory=random.Random, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_options(self, "retry")  # lower bounds; the file's schema also takes the upper
        if self.max_delay < self.min_delay:
            raise ConfigurationError("retry.max_delay", "must be at least retry.min_delay")
        if self.jitter > 1:  # a fraction: above 1 a delay could turn negative
            raise ConfigurationError("retry.jitter", "must be between 0 and 1")

    def backoff(self, attempt: int) -> float:
        """The delay before the delivery that follows ``attempt``."""
        delay = exponential_backoff(
            attempt, self.min_delay, self.max_delay, self.multiplier, self.jitter, self.rng
        )
        return max(delay, self.min_delay)

    def decide(self, message: Message) -> Decision:
        """The decision for a message whose status is failed."""
        status = message.status
        reason = status.reason
        exception = status.exception
        never = exception is not None and (
            isinstance(exception, PoisonMessageError)
            or (bool(self.never_retry) and isinstance(exception, self.never_retry))
        )
        if not never and message.attempt < self.max_attempts:
            return Decision.retry(self.backoff(message.attempt), reason)
        if self.dead_letter:
            return Decision.dead_letter(reason)
        return Decision.discard(reason)
