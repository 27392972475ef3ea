"""FetchBuffer: records fetched ahead of the pipeline, one queue per partition. Pure.

The poller puts each partition's run of messages in as one chunk on that
partition's queue. ``take`` hands out an even share of each partition in
turn, each partition's messages in offset order, so one partition's backlog
never fills what the processors are given while other partitions wait: with
N partitions keyed to N processors, every processor gets work from the first
take (a slow handler measured 1.5 processors busy of 4 when the buffer
handed out oldest chunks first, 4.0 with the even share; bench/slow_handler.py).

Which partitions are read is :mod:`.fairness`'s part. When a partition is
revoked or rewound, ``drop`` takes its messages out.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable

from broadway_py.message import Message


class FetchBuffer:
    __slots__ = ("_count", "_counts", "_queues")

    def __init__(self) -> None:
        # Insertion order is turn order: a partition taken from moves to the end.
        self._queues: dict[Hashable, deque[list[Message]]] = {}
        self._counts: dict[Hashable, int] = {}
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def put(self, key: Hashable, messages: list[Message]) -> None:
        if not messages:
            return
        queue = self._queues.get(key)
        if queue is None:
            self._queues[key] = deque((messages,))
            self._counts[key] = len(messages)
        else:
            queue.append(messages)
            self._counts[key] += len(messages)
        self._count += len(messages)

    def take(self, demand: int) -> list[Message]:
        """At most ``demand`` messages: an even share of each partition, in turn."""
        queues = self._queues
        if not queues or demand <= 0:
            return []
        if len(queues) == 1:  # the usual case on one partition: no shares to work out
            return self._take_from(next(iter(queues)), demand)
        taken: list[Message] = []
        while queues and len(taken) < demand:
            share = -(-(demand - len(taken)) // len(queues))  # rounded up: all get a turn
            for key in list(queues):
                taken += self._take_from(key, min(share, demand - len(taken)))
                if len(taken) >= demand:
                    break
        return taken

    def _take_from(self, key: Hashable, demand: int) -> list[Message]:
        """Up to ``demand`` of one partition, oldest first; the partition's turn ends."""
        queue = self._queues[key]
        first = queue[0]
        if len(first) > demand:
            queue[0] = first[demand:]
            taken = first[:demand]
        else:
            queue.popleft()
            taken = first
            while queue and len(taken) < demand:
                chunk = queue[0]
                room = demand - len(taken)
                if len(chunk) > room:
                    queue[0] = chunk[room:]
                    taken = taken + chunk[:room]
                    break
                queue.popleft()
                taken = taken + chunk
        left = self._counts[key] - len(taken)
        del self._queues[key]
        if left:
            self._queues[key] = queue  # to the end: the others go first next time
            self._counts[key] = left
        else:
            del self._counts[key]
        self._count -= len(taken)
        return taken

    def drop(self, key: Hashable) -> list[Message]:
        """Take out every message of partition ``key``, in order."""
        queue = self._queues.pop(key, None)
        if queue is None:
            return []
        dropped = [message for chunk in queue for message in chunk]
        del self._counts[key]
        self._count -= len(dropped)
        return dropped

    def clear(self) -> list[Message]:
        dropped = [m for queue in self._queues.values() for chunk in queue for m in chunk]
        self._queues.clear()
        self._counts.clear()
        self._count = 0
        return dropped
