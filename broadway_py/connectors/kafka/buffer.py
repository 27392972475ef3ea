"""FetchBuffer: records fetched ahead of the pipeline, in chunks per partition. Pure.

The poller puts each partition's run of messages in as one chunk; ``take``
hands them out oldest first, so a partition's messages leave in offset order.
When a partition is revoked or rewound, ``drop`` takes its chunks out.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable

from broadway_py.message import Message


class FetchBuffer:
    __slots__ = ("_chunks", "_count")

    def __init__(self) -> None:
        self._chunks: deque[tuple[Hashable, list[Message]]] = deque()
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def put(self, key: Hashable, messages: list[Message]) -> None:
        if messages:
            self._chunks.append((key, messages))
            self._count += len(messages)

    def take(self, demand: int) -> list[Message]:
        """At most ``demand`` messages, oldest chunks first."""
        chunks = self._chunks
        if not chunks or demand <= 0:
            return []
        key, first = chunks[0]
        if len(first) > demand:
            chunks[0] = (key, first[demand:])
            self._count -= demand
            return first[:demand]
        chunks.popleft()
        taken = first
        while chunks and len(taken) < demand:
            key, chunk = chunks[0]
            room = demand - len(taken)
            if len(chunk) > room:
                chunks[0] = (key, chunk[room:])
                taken = taken + chunk[:room]
                break
            chunks.popleft()
            taken = taken + chunk
        self._count -= len(taken)
        return taken

    def drop(self, key: Hashable) -> list[Message]:
        """Take out every message of partition ``key``, in order."""
        dropped: list[Message] = []
        kept: deque[tuple[Hashable, list[Message]]] = deque()
        for chunk_key, chunk in self._chunks:
            if chunk_key == key:
                dropped.extend(chunk)
            else:
                kept.append((chunk_key, chunk))
        self._chunks = kept
        self._count -= len(dropped)
        return dropped

    def clear(self) -> list[Message]:
        dropped = [m for _, chunk in self._chunks for m in chunk]
        self._chunks.clear()
        self._count = 0
        return dropped
