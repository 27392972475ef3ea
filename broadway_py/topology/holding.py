"""Holding: the messages one stage task has in hand, outside any channel.

It is one of the in-flight registry's places (see
:mod:`broadway_py.topology.in_flight`): a restart takes out what it holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import chain

from broadway_py.message import Message


class Holding:
    """The messages one stage task has in hand, outside any channel.

    ``chunks`` is replaced or shortened as the stage hands messages on; the
    stage empties it before passing messages to the terminator.
    """

    __slots__ = ("chunks",)

    def __init__(self) -> None:
        self.chunks: list[Iterable[Message]] = []

    def hold(self, chunk: Iterable[Message]) -> None:
        self.chunks = [chunk]

    def clear(self) -> None:
        self.chunks = []

    def held(self) -> Iterator[Message]:
        return chain.from_iterable(self.chunks)

    def take_all(self) -> list[Message]:
        taken = list(self.held())
        self.chunks = []
        return taken
