"""Waking a waiting ``fetch``: resolve a future once, whoever gets there first.

A producer's ``fetch`` sleeps on a future until a delivery, a stop or a fatal
error wakes it; several of those may race, and a future resolved twice raises.
:func:`~broadway_py.futures.resolve` (core's, shared with the stages) is the
one guard every producer uses; :class:`Waiter` holds the future of the one
``fetch`` a producer serves at a time.
"""

from __future__ import annotations

import asyncio
from typing import TypeVar

from broadway_py.futures import resolve

T = TypeVar("T")


class Waiter:
    """The one pending ``fetch`` of a producer: ``wait`` until ``wake``.

    A ``wake`` with nobody waiting is not remembered: the waiting side checks
    its state before it waits, with no suspension point between the check
    and :meth:`wait`.
    """

    __slots__ = ("_future",)

    def __init__(self) -> None:
        self._future: asyncio.Future[None] | None = None

    async def wait(self) -> None:
        future = self._future = asyncio.get_running_loop().create_future()
        try:
            await future
        finally:
            self._future = None

    def wake(self) -> None:
        resolve(self._future, None)
