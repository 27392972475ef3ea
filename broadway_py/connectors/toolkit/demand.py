"""DemandBuffer: what a producer received and the pipeline has not asked for yet.

A push-style client (a RabbitMQ consumer, SQS receives running ahead) puts
messages here as they come; ``fetch(demand)`` takes at most ``demand`` of them,
oldest first, and sleeps on the buffer's waiter while it is empty. ``stop``
(drain) wakes that ``fetch`` for good. The broker-side bound (prefetch, the
receives in flight) keeps the buffer small; this class only hands out.
"""

from __future__ import annotations

from collections import deque

from broadway_py.connectors.toolkit.waiting import Waiter
from broadway_py.message import Message


class DemandBuffer:
    __slots__ = ("_messages", "_waiter", "stopped")

    def __init__(self) -> None:
        self._messages: deque[Message] = deque()
        self._waiter = Waiter()
        self.stopped = False

    def __len__(self) -> int:
        return len(self._messages)

    def __bool__(self) -> bool:
        return bool(self._messages)

    def append(self, message: Message) -> None:
        """Add one message (call :meth:`wake` once the batch is in)."""
        self._messages.append(message)

    def take(self, demand: int) -> list[Message]:
        """At most ``demand`` messages, oldest first."""
        messages = self._messages
        if len(messages) <= demand:
            taken = list(messages)
            messages.clear()
            return taken
        return [messages.popleft() for _ in range(demand)]

    def clear(self) -> int:
        """Forget what was not handed out (the broker delivers it again); returns how many."""
        count = len(self._messages)
        self._messages.clear()
        return count

    async def wait(self) -> None:
        """Until :meth:`wake` or :meth:`stop` (check the buffer before waiting)."""
        await self._waiter.wait()

    def wake(self) -> None:
        self._waiter.wake()

    def stop(self) -> bool:
        """Fetching stops: the waiting ``fetch`` wakes, and the next ones return ``[]``.

        Returns False when it was stopped already (the producer's own stop steps ran then).
        """
        if self.stopped:
            return False
        self.stopped = True
        self._waiter.wake()
        return True
