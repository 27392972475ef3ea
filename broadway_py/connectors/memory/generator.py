"""GeneratorProducer: synthetic messages, N of them or endless, optionally paced.

For the demo and the benchmarks. Outcomes are applied the way a broker would:
a message the policy retries is delivered again after its decision's delay,
with ``attempt + 1`` and the same sequence number (its data made again from
it, its metadata ``{"seq": n}``, its ``message.id`` ``str(n)``); dead-lettered
and discarded messages are counted and dropped. A finite generator finishes
only once every message it made was settled, so no retry is still waiting
when its pipeline stops.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from broadway_py.acknowledger import Decided, Failed, Outcomes
from broadway_py.futures import resolve
from broadway_py.message import Message
from broadway_py.telemetry import ProducerConnected, Telemetry

Payload = bytes | str | Callable[[int], Any]


@dataclass
class GeneratedCounts(Outcomes):
    """Messages generated, redelivered after a retry, and their outcomes (core's counter)."""

    generated: int = 0
    redelivered: int = 0

    @property
    def acked(self) -> int:
        """Messages acknowledged as successful (the name the benchmarks and tests read)."""
        return self.successful


class GeneratorProducer:
    """Makes ``count`` messages (``None``: endless), at most ``rate`` per second.

    ``payload`` is the data of every message, or a function of its sequence
    number (called again for a redelivery, so it should depend on nothing
    else). Each message carries its sequence number in ``metadata["seq"]``, and
    as text in ``message.id``.

    A retried message comes back from ``fetch`` after its decision's delay,
    ahead of new ones and outside the ``rate``. Once ``count`` messages were
    generated, ``fetch`` waits until every one of them was settled (acked as
    successful, dead-lettered or discarded; a retry is not settled) and then
    returns ``[]``, which finishes the producer stage: a finite generator's
    pipeline runs to completion by itself, its last partial batch closed by
    the batcher's ``batch_timeout``.
    """

    def __init__(
        self,
        count: int | None = None,
        rate: float | None = None,
        payload: Payload = b"hello",
        counts: GeneratedCounts | None = None,
    ) -> None:
        if count is not None and count < 0:
            raise ValueError("count must not be negative")
        if rate is not None and rate <= 0:
            raise ValueError("rate must be above 0")
        self.count = count
        self.rate = rate
        self.payload = payload
        self.counts = counts or GeneratedCounts()
        self._next = 0
        self._unsettled = 0  # generated, and not yet acked with a final outcome
        self._due: deque[tuple[int, int]] = deque()  # (seq, attempt) to redeliver now
        self._delayed: dict[int, asyncio.TimerHandle] = {}  # retries waiting out a delay
        self._timer = 0
        self._stopped = False
        self._started_at = 0.0
        self._pause: asyncio.Future[None] | None = None

    async def start(self, telemetry: Telemetry) -> None:
        self._started_at = asyncio.get_running_loop().time()
        if telemetry.enabled:
            telemetry.emit(ProducerConnected(True))

    @property
    def pending_retries(self) -> int:
        """Retried messages not yet delivered again (waiting out their delay, or due)."""
        return len(self._delayed) + len(self._due)

    async def fetch(self, demand: int) -> list[Message]:
        while not self._stopped:
            if self._due:
                return self._redeliver(demand)
            if self.count is not None:
                wanted = min(demand, self.count - self._next)
                if wanted <= 0:
                    if not self._unsettled:
                        return []
                    await self._sleep(None)  # woken by the last ack, a retry or a stop
                    continue
            else:
                wanted = demand
            if self.rate is not None:
                wanted = await self._paced(wanted)
                if wanted <= 0:
                    continue  # stopped, or a retry fell due
            return self._generate(wanted)
        return []

    def _generate(self, demand: int) -> list[Message]:
        first = self._next
        self._next += demand
        self._unsettled += demand
        self.counts.generated += demand
        payload = self.payload
        if callable(payload):
            return [
                Message(payload(n), self, None, n, {"seq": n}, 1, str(n))
                for n in range(first, first + demand)
            ]
        return [
            Message(payload, self, None, n, {"seq": n}, 1, str(n))
            for n in range(first, first + demand)
        ]

    def _redeliver(self, demand: int) -> list[Message]:
        due = self._due
        payload = self.payload
        messages = []
        for _ in range(min(demand, len(due))):
            n, attempt = due.popleft()
            data = payload(n) if callable(payload) else payload
            messages.append(Message(data, self, None, n, {"seq": n}, attempt, str(n)))
        self.counts.redelivered += len(messages)
        return messages

    async def _paced(self, demand: int) -> int:
        assert self.rate is not None
        loop = asyncio.get_running_loop()
        while not self._stopped and not self._due:
            allowed = int((loop.time() - self._started_at) * self.rate) - self._next
            if allowed > 0:
                return min(demand, allowed)
            await self._sleep(self._started_at + (self._next + 1) / self.rate)
        return 0

    async def _sleep(self, until: float | None) -> None:
        """Wait until ``until`` (loop time; None: no limit) or until :meth:`_wake`."""
        loop = asyncio.get_running_loop()
        self._pause = loop.create_future()
        handle = loop.call_at(until, resolve, self._pause) if until is not None else None
        try:
            await self._pause
        finally:
            if handle is not None:
                handle.cancel()
            self._pause = None

    def _wake(self) -> None:
        resolve(self._pause)

    def stop_fetching(self) -> None:
        self._stopped = True
        self._wake()

    async def close(self) -> None:
        self.stop_fetching()
        for handle in self._delayed.values():
            handle.cancel()
        self._delayed.clear()
        self._due.clear()

    async def ack(self, ack_ref: Hashable, successful: Sequence[Message], failed: Failed) -> None:
        counts = self.counts
        counts.successful += len(successful)
        settled = len(successful)
        if failed:
            counts.add_failed(failed)
            settled += len(failed) - len(failed.retry)
            if failed.retry and not self._stopped:
                self._schedule(failed.retry)
        self._unsettled -= settled
        if not self._unsettled:
            self._wake()

    def _schedule(self, retries: Sequence[Decided]) -> None:
        loop = asyncio.get_running_loop()
        for message, decision in retries:
            retry = (message.ack_data, message.attempt + 1)
            if decision.delay > 0:
                self._timer += 1
                self._delayed[self._timer] = loop.call_later(
                    decision.delay, self._fall_due, retry, self._timer
                )
            else:
                self._fall_due(retry, None)

    def _fall_due(self, retry: tuple[int, int], timer: int | None) -> None:
        if timer is not None:
            del self._delayed[timer]
        self._due.append(retry)
        self._wake()
