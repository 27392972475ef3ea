"""Intake: what the consumer fetched and the pipeline has not taken yet.

It owns the :class:`~.buffer.FetchBuffer` that ``fetch`` hands out, the
:class:`~.hold.RetryHold` of retried copies waiting for their time, in-place
rewinds (pause a partition, seek it back after a delay), and which partitions
are paused, and why:

- every partition, while fetching is stopped (drain), while the group
  rebalances, or once the pipeline stayed full for ``pause_after`` seconds
  (*stalled*: the poll goes on, so the member is never evicted);
- a partition being revoked (its in-flight messages finishing);
- a partition waiting to be read again from a retried message;
- the retry topic's partitions while the hold is full.

Records that come for a partition that is not fed now are fetched again
later (the partition is sought back to them), never dropped silently.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from broadway_py.acknowledger import Acknowledger
from broadway_py.connectors.kafka.buffer import FetchBuffer
from broadway_py.connectors.kafka.fairness import Poll, next_poll
from broadway_py.connectors.kafka.headers import read_not_before
from broadway_py.connectors.kafka.hold import RetryHold
from broadway_py.connectors.kafka.message import offset_of
from broadway_py.connectors.kafka.offsets import OffsetTracker, PartitionOffsets
from broadway_py.connectors.kafka.records import add_origin, headers_of, to_messages
from broadway_py.connectors.toolkit import Waiter, resolve
from broadway_py.message import Message

log = logging.getLogger("broadway_py.connectors.kafka")


@dataclass
class _Rewind:
    offset: int
    timer: asyncio.TimerHandle


class Intake:
    def __init__(
        self,
        capacity: int,
        retry_topic: str | None,
        tracker: OffsetTracker,
        acknowledger: Acknowledger,
    ) -> None:
        self.capacity = capacity
        self.retry_topic = retry_topic
        self.tracker = tracker
        self.acknowledger = acknowledger
        self.consumer: Any = None
        self.buffer = FetchBuffer()
        self.hold = RetryHold()
        self.stopped = False
        self.rebalancing = False
        self.full = False
        self.stalled = False
        self._hold_full = False
        #: Whether the last pass may have left partitions paused (False: none are).
        self._some_paused = True
        self._hold_timer: asyncio.TimerHandle | None = None
        self._rewinds: dict[Any, _Rewind] = {}
        self._attempts: dict[Any, dict[int, int]] = {}
        #: The waiting ``fetch``: woken when messages come in, fetching stops or fails.
        self.arrival = Waiter()
        self._drained: asyncio.Future[bool] | None = None

    # -- what the poller puts in ------------------------------------------------------

    def ingest(self, batches: dict[Any, list[Any]]) -> None:
        """Turn one poll's records into messages, per partition, in offset order."""
        tracker = self.tracker
        buffer = self.buffer
        for tp, records in batches.items():
            offsets = tracker.get(tp)
            if offsets is None or offsets.revoking or self.rebalancing or tp in self._rewinds:
                self._refetch(tp, records)
                continue
            partition = (tp.topic, tp.partition)
            attempts = self._attempts.get(tp)
            messages = to_messages(records, partition, offsets, self.acknowledger, attempts)
            if not messages:
                continue
            if tp.topic == self.retry_topic:
                add_origin(messages)
                self._hold_back(tp, messages)
            else:
                buffer.put(tp, messages)
        if len(buffer) >= self.capacity:
            self.full = True
        if buffer:
            self.arrival.wake()

    def _refetch(self, tp: Any, records: list[Any]) -> None:
        """Records for a partition not fed now: seek back, so they are fetched again later."""
        if tp in self._rewinds or not records:
            return  # the rewind seeks the partition when it is due
        try:
            if tp in self.consumer.assignment():
                self.consumer.seek(tp, records[0].offset)
        except Exception as error:  # the partition went meanwhile
            log.debug("kafka: %s not sought back: %s", tp, error)

    def _hold_back(self, tp: Any, messages: list[Message]) -> None:
        now = time.time()
        ready = []
        for message in messages:
            not_before = read_not_before(headers_of(message) or ())
            if not_before is None or not_before <= now:
                ready.append(message)
            else:
                self.hold.add(not_before, tp, message)
        self.buffer.put(tp, ready)
        self._schedule_hold()

    def _schedule_hold(self) -> None:
        if self._hold_timer is not None:
            self._hold_timer.cancel()
            self._hold_timer = None
        due = self.hold.next_due()
        if due is not None:
            delay = max(due - time.time(), 0.0)
            self._hold_timer = asyncio.get_running_loop().call_later(delay, self._release_held)
        if (len(self.hold) >= self.capacity) != self._hold_full:
            self.apply_pauses()

    def _release_held(self) -> None:
        self._hold_timer = None
        for key, message in self.hold.due(time.time()):
            self.buffer.put(key, [message])
        self._schedule_hold()
        if self.buffer:
            self.arrival.wake()

    def next_poll(self, max_poll_records: int) -> Poll:
        """Which partitions the next poll reads, and how many records (see :mod:`.fairness`)."""
        consumer = self.consumer
        assigned = consumer.assignment() if consumer is not None else ()
        pending = {offsets.key: offsets.pending for offsets in self.tracker.live()}
        retry_topic = self.retry_topic
        sources = sum(1 for tp in assigned if tp.topic != retry_topic)
        return next_poll(assigned, pending, self.capacity, max_poll_records, sources)

    # -- what fetch takes out ------------------------------------------------------------

    def take(self, demand: int) -> list[Message]:
        messages = self.buffer.take(demand)
        if self.full:
            self.check_drained()
        return messages

    def check_drained(self) -> None:
        """Once the buffer fell to half its capacity, fetching goes on (resumed if paused)."""
        if self.full and len(self.buffer) <= self.capacity // 2:
            self.full = False
            resolve(self._drained, True)
            if self.stalled:
                self.stalled = False
                self.apply_pauses()

    async def wait_drained(self, timeout: float) -> bool:
        """Wait until the buffer fell to half its capacity; False after ``timeout``."""
        if not self.full:
            return True
        # A bare future and a timer: this runs once per poll while the pipeline keeps
        # up, and wait_for(shield(...)) costs twice as much.
        loop = asyncio.get_running_loop()
        drained = self._drained = loop.create_future()
        timer = loop.call_later(timeout, resolve, drained, False)
        try:
            in_time = await drained
        finally:
            timer.cancel()
            self._drained = None
        return in_time or not self.full

    def stop(self) -> None:
        self.stopped = True
        self.arrival.wake()
        resolve(self._drained, True)
        self.apply_pauses()

    # -- rewinds and revokes --------------------------------------------------------------

    def rewind(
        self, offsets: PartitionOffsets, offset: int, delay: float, attempt: int | None
    ) -> None:
        """Read ``offsets``'s partition again from ``offset`` after ``delay`` seconds."""
        key = offsets.key
        if not offsets.alive or self.consumer is None:
            return
        earlier = self._rewinds.pop(key, None)
        if earlier is not None:
            earlier.timer.cancel()
            offset = min(offset, earlier.offset)
        self.buffer.drop(key)
        self.hold.drop(key)
        self.check_drained()
        offsets.rewind(offset)
        if attempt is not None:
            self._attempts.setdefault(key, {})[offset] = attempt
        timer = asyncio.get_running_loop().call_later(delay, self._seek_back, offsets)
        self._rewinds[key] = _Rewind(offset, timer)
        self.apply_pauses()

    def _seek_back(self, offsets: PartitionOffsets) -> None:
        rewind = self._rewinds.pop(offsets.key, None)
        if rewind is None or self.consumer is None or not offsets.alive:
            return
        try:
            self.consumer.seek(offsets.key, rewind.offset)
        except Exception as error:  # the partition went meanwhile
            log.info("kafka: could not seek %s back: %s", offsets.key, error)
        self.apply_pauses()

    def forget(self, offsets: PartitionOffsets) -> None:
        """Take a partition's buffered and held messages out: they were never handed out."""
        key = offsets.key
        dropped = self.buffer.drop(key) + self.hold.drop(key)
        if dropped:
            offsets.rewind(min(map(offset_of, dropped)))
            self.check_drained()
        rewind = self._rewinds.pop(key, None)
        if rewind is not None:
            rewind.timer.cancel()
        self._attempts.pop(key, None)

    def clear(self) -> None:
        """Closing: cancel the timers and forget what was never handed out."""
        if self._hold_timer is not None:
            self._hold_timer.cancel()
            self._hold_timer = None
        for rewind in self._rewinds.values():
            rewind.timer.cancel()
        self._rewinds.clear()
        self.buffer.clear()
        self.hold.clear()
        resolve(self._drained, True)

    # -- pauses ----------------------------------------------------------------------------

    def apply_pauses(self) -> None:
        """Pause what must not be fetched now; resume the rest. The poll goes on."""
        self._hold_full = len(self.hold) >= self.capacity
        consumer = self.consumer
        if consumer is None:
            return
        if not (
            self._some_paused
            or self.stopped
            or self.stalled
            or self.rebalancing
            or self._rewinds
            or self._hold_full
            or self.tracker.revoking()
        ):
            return  # nothing paused and nothing to pause: the usual case, before every poll
        try:
            assigned = consumer.assignment()
            if not assigned:
                return
            if self.stopped or self.stalled or self.rebalancing:
                wanted = set(assigned)
            else:
                wanted = {tp for tp in self._rewinds if tp in assigned}
                wanted.update(o.key for o in self.tracker.live() if o.revoking)
                if self._hold_full:
                    wanted.update(tp for tp in assigned if tp.topic == self.retry_topic)
            paused = consumer.paused()
            if wanted != paused:
                if wanted - paused:
                    consumer.pause(*(wanted - paused))
                if paused - wanted:
                    consumer.resume(*(paused - wanted))
            self._some_paused = bool(wanted)
        except Exception as error:  # the assignment changed under us; the next turn redoes it
            self._some_paused = True
            log.debug("kafka: pause / resume skipped: %s", error)

    def paused(self) -> set[tuple[str, int]]:
        if self.consumer is None:
            return set()
        try:
            paused: set[Any] = self.consumer.paused()
        except Exception:
            return set()
        return {(tp.topic, tp.partition) for tp in paused}
