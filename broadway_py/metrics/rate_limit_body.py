"""The body of ``POST /admin/rate_limit``: which values are allowed, and why not. Pure.

``{"allowed_messages": 100, "interval": 1.0}``, either key alone. The bounds
keep an operator's typo from stopping the pipeline for good or spinning the
rate limiter: :data:`ALLOWED_MESSAGES` messages per interval, an interval of
:data:`INTERVAL` seconds. A refusal names the bound it broke.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from broadway_py.options import RATE_LIMIT_INTERVAL, RATE_LIMIT_MESSAGES

ALLOWED_MESSAGES = RATE_LIMIT_MESSAGES
"""Lowest and highest allowed_messages (whole numbers, both included): the pipeline's own."""

INTERVAL = RATE_LIMIT_INTERVAL
"""Shortest and longest interval in seconds (both included): the pipeline's own."""

KEYS = ("allowed_messages", "interval")


class RateLimitBodyError(ValueError):
    """The body is not a rate-limit change within bounds; the message says why, for a 400."""


@dataclass(frozen=True)
class RateLimitChange:
    """The values to set; None leaves that one as it is."""

    allowed_messages: int | None
    interval: float | None


def parse_rate_limit_change(body: Any) -> RateLimitChange:
    """Check a decoded JSON body; raises RateLimitBodyError naming the bound it broke."""
    if not isinstance(body, dict):
        raise RateLimitBodyError(
            "the body must be a JSON object with allowed_messages and/or interval"
        )
    unknown = sorted(set(body) - set(KEYS))
    if unknown:
        raise RateLimitBodyError(
            f"unknown keys {unknown}; expected allowed_messages and/or interval"
        )
    if not body:
        raise RateLimitBodyError("give allowed_messages and/or interval")
    allowed = body.get("allowed_messages")
    interval = body.get("interval")
    return RateLimitChange(
        None if allowed is None else _allowed_messages(allowed),
        None if interval is None else _interval(interval),
    )


def _allowed_messages(value: Any) -> int:
    low, high = ALLOWED_MESSAGES
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise RateLimitBodyError(
            f"allowed_messages must be a whole number from {low} to {high:_}, not {_shown(value)}"
        )
    return value


def _interval(value: Any) -> float:
    low, high = INTERVAL
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not low <= value <= high
    ):
        raise RateLimitBodyError(
            f"interval must be a finite number of seconds from {low:g} to {high:g}, "
            f"not {_shown(value)}"
        )
    return float(value)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
