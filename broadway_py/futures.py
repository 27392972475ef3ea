"""Resolving a future once, whoever gets there first. Pure; stdlib only.

A waiter (a stage waiting on a channel, a producer stage on the rate limiter,
a producer's ``fetch`` on its broker) sleeps on a future that several events
may race to wake: a delivery, a timer, a stop, a fatal error. A future
resolved twice raises, so each of them goes through :func:`resolve`, the one
guard core and the connectors share.
"""

from __future__ import annotations

import asyncio
from typing import TypeVar

T = TypeVar("T")


def resolve(future: asyncio.Future[T] | None, result: T = None) -> None:  # type: ignore[assignment]
    """Set ``future``'s result unless there is none or it is done (or cancelled) already."""
    if future is not None and not future.done():
        future.set_result(result)
