"""KafkaAcknowledger: carries out each message's outcome, then marks its offset done.

- success, discard: mark done;
- dead_letter: publish a copy to the dead-letter topic (reason in headers),
  then mark done;
- retry: publish a copy to the retry topic (next attempt and not-before time
  in headers), then mark done, so the partition is not blocked; in ordered
  mode instead: pause the partition and read it again from that message after
  the delay (it is not marked done, so nothing after it is committed first).

Offsets are committed by the session, on an interval, up to the highest
contiguous done offset. An ack for a partition that was revoked meanwhile is
dropped (reported as AcksDropped): the partition's new owner gets the message
again. When a copy cannot be published, the original is not marked done: its
partition is read again from it, so the message is redelivered, never lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Hashable, Sequence
from typing import Protocol

from broadway_py.connectors.kafka.offsets import PartitionOffsets
from broadway_py.connectors.kafka.publisher import Publisher
from broadway_py.message import Message, describe_exception

log = logging.getLogger("broadway_py.connectors.kafka")


class AckSession(Protocol):
    """What the acknowledger needs from the consumer session."""

    ordered: bool
    redeliver_delay: float

    @property
    def publisher(self) -> Publisher | None: ...

    def rewind(
        self, offsets: PartitionOffsets, offset: int, delay: float, attempt: int | None
    ) -> None:
        """Read the partition again from ``offset`` after ``delay`` seconds."""
        ...

    def acks_dropped(self, count: int, reason: str) -> None: ...

    def acked(self, touched: set[PartitionOffsets]) -> None:
        """Offsets of these partitions were marked done."""
        ...


class KafkaAcknowledger:
    def __init__(self, session: AckSession) -> None:
        self.session = session

    async def ack(
        self, ack_ref: Hashable, successful: Sequence[Message], failed: Sequence[Message]
    ) -> None:
        touched: set[PartitionOffsets] = set()
        revoked = 0
        if successful:
            # Runs of one partition and epoch are marked done at once (the hot path).
            first = successful[0].ack_data
            last, last_epoch = first[0], first[1]
            run: list[int] = []
            for message in successful:
                offsets, epoch, record = message.ack_data
                if offsets is not last or epoch != last_epoch:
                    revoked += self._done(last, last_epoch, run, touched)
                    last, last_epoch, run = offsets, epoch, []
                run.append(record.offset)
            revoked += self._done(last, last_epoch, run, touched)
        if failed:
            revoked += await self._settle(failed, touched)
        if touched:
            self.session.acked(touched)
        if revoked:
            self.session.acks_dropped(revoked, "partition revoked before the ack")

    @staticmethod
    def _done(
        offsets: PartitionOffsets, epoch: int, run: list[int], touched: set[PartitionOffsets]
    ) -> int:
        """Mark a run done; returns how many acks were dropped because of a revoke."""
        stale = offsets.done_many(run, epoch)
        if stale < len(run):
            touched.add(offsets)
        return stale if not offsets.alive else 0

    async def _settle(self, failed: Sequence[Message], touched: set[PartitionOffsets]) -> int:
        """Carry out the decisions of failed messages; returns how many acks were stale."""
        session = self.session
        stale = 0
        in_place: dict[PartitionOffsets, Message] = {}
        retry: list[Message] = []
        dead: list[Message] = []
        for message in failed:
            offsets, epoch, record = message.ack_data
            if not offsets.is_current(record.offset, epoch):
                stale += not offsets.alive
                continue
            decision = message.decision
            kind = decision.kind if decision is not None else "retry"
            if kind == "discard":
                offsets.done(record.offset, epoch)
                touched.add(offsets)
            elif kind == "dead_letter":
                dead.append(message)
            elif session.ordered:
                first = in_place.get(offsets)
                if first is None or record.offset < first.ack_data[2].offset:
                    in_place[offsets] = message
            else:
                retry.append(message)
        for offsets, message in in_place.items():
            delay = message.decision.delay if message.decision is not None else 0.0
            session.rewind(offsets, message.ack_data[2].offset, delay, message.attempt + 1)
        if in_place:
            # Anything after a rewound message will be read again: drop its outcome.
            retry = [m for m in retry if _current(m)]
            dead = [m for m in dead if _current(m)]
        if retry or dead:
            stale += await self._publish(retry, dead, touched)
        return stale

    async def _publish(
        self, retry: list[Message], dead: list[Message], touched: set[PartitionOffsets]
    ) -> int:
        publisher = self.session.publisher
        if publisher is None:
            self.session.acks_dropped(len(retry) + len(dead), "the connector is closed")
            return 0
        jobs = []
        if retry:
            jobs.append(publisher.retry(retry))
        if dead:
            jobs.append(publisher.dead_letter(dead))
        outcomes = [error for result in await asyncio.gather(*jobs) for error in result]
        stale = 0
        unpublished: list[tuple[Message, BaseException]] = []
        for message, error in zip([*retry, *dead], outcomes, strict=True):
            offsets, epoch, record = message.ack_data
            if error is not None:
                unpublished.append((message, error))
            elif offsets.done(record.offset, epoch):
                touched.add(offsets)
            elif not offsets.alive:
                stale += 1
        if unpublished:
            self._redeliver(unpublished, publisher)
        return stale

    def _redeliver(
        self, unpublished: list[tuple[Message, BaseException]], publisher: Publisher
    ) -> None:
        """Copies that could not be written: read their partitions again from them."""
        first: dict[PartitionOffsets, Message] = {}
        for message, _ in unpublished:
            offsets = message.ack_data[0]
            seen = first.get(offsets)
            if seen is None or message.ack_data[2].offset < seen.ack_data[2].offset:
                first[offsets] = message
        message, error = unpublished[0]
        log.error(
            "kafka: could not publish %d retry / dead-letter copies (%s, %s): %s; their "
            "partitions are read again from the first of them",
            len(unpublished),
            publisher.retry_topic,
            publisher.dead_letter_topic,
            describe_exception(error),
        )
        self.session.acks_dropped(len(unpublished), f"publish failed: {describe_exception(error)}")
        for offsets, message in first.items():
            if _current(message):
                offsets_at = message.ack_data[2].offset
                self.session.rewind(offsets, offsets_at, self.session.redeliver_delay, None)


def _current(message: Message) -> bool:
    offsets, epoch, record = message.ack_data
    return bool(offsets.is_current(record.offset, epoch))
