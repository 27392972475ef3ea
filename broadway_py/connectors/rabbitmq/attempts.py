"""The attempt number of a delivery, from its headers and redelivered flag. Pure.

A delivery's attempt is ``base + redeliveries``:

- ``base`` is the connector's attempt header (``x-broadway-attempt``), written
  when a retry is published to a delay queue; without it, one more than the
  times ``x-death`` says the message was rejected from (or hit the delivery
  limit of) this queue, for topologies that retry through the queue's own
  dead-letter exchange; else 1.
- ``redeliveries`` is ``x-delivery-count`` where the queue keeps one (quorum
  queues), else 1 when the ``redelivered`` flag is set (classic queues only say
  *whether* the message was delivered before, not how often).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

FAILED_DEATHS = ("rejected", "delivery_limit")


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def _text(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    return value if isinstance(value, str) else ""


def failed_deaths(deaths: Any, queue: str) -> int:
    """How often ``x-death`` says the message was rejected from ``queue``."""
    if not isinstance(deaths, list | tuple):
        return 0
    total = 0
    for death in deaths:
        if not isinstance(death, Mapping):
            continue
        if _text(death.get("queue")) != queue or _text(death.get("reason")) not in FAILED_DEATHS:
            continue
        total += max(_count(death.get("count")) or 0, 0)
    return total


def base_attempt(headers: Mapping[str, Any] | None, queue: str, attempt_header: str) -> int:
    """The attempt the message was (re)published for, before any redelivery."""
    if not headers:
        return 1
    written = _count(headers.get(attempt_header))
    if written is not None and written >= 1:
        return written
    deaths = headers.get("x-death")
    if deaths:
        return 1 + failed_deaths(deaths, queue)
    return 1


def redeliveries(headers: Mapping[str, Any] | None, redelivered: bool) -> int:
    if headers:
        counted = _count(headers.get("x-delivery-count"))
        if counted is not None and counted >= 0:
            return counted
    return 1 if redelivered else 0


def attempt_of(
    headers: Mapping[str, Any] | None, redelivered: bool, queue: str, attempt_header: str
) -> int:
    """The 1-based attempt number of a delivery."""
    if not headers:
        return 2 if redelivered else 1
    return base_attempt(headers, queue, attempt_header) + redeliveries(headers, redelivered)


def requeue_counts(headers: Mapping[str, Any] | None, redelivered: bool) -> bool:
    """Whether a ``nack(requeue=True)`` makes the next attempt exactly one more.

    True on a queue that counts deliveries (``x-delivery-count``), or when the
    message was not redelivered yet (the flag then turns from 0 to 1). False
    on a classic queue for a message already redelivered: requeuing it again
    would not raise its attempt, so a retry must republish it with the header.
    """
    if headers and _count(headers.get("x-delivery-count")) is not None:
        return True
    return not redelivered
