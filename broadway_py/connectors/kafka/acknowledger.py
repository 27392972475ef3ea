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
from collections.abc import Callable, Hashable, Sequence
from typing import Protocol

from broadway_py.connectors.kafka.message import delivery_of, offset_of
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
            # The hot path. Messages of a fetched run share one Delivery (their ack_ref):
            # look up how to mark them once per run, then mark each with one dict operation.
            last: object = None
            mark: Callable[[int, None], int | None] | None = None
            offsets: PartitionOffsets | None = None
            epoch = 0
            for message in successful:
                ref = message.ack_ref
                if ref is not last:
                    last = ref
                    delivery = delivery_of(message)
                    offsets, epoch = delivery.offsets, delivery.epoch
                    mark = offsets.marker(epoch)
                    if offsets.alive:
                        touched.add(offsets)
                if mark is not None:
                    mark(message.ack_data, None)
                elif offsets is not None and offsets.alive:
                    offsets.done(message.ack_data, epoch)
                else:
                    revoked += 1
        if failed:
            revoked += await self._settle(failed, touched)
        if touched:
            self.session.acked(touched)
        if revoked:
            self.session.acks_dropped(revoked, "partition revoked before the ack")

    async def _settle(self, failed: Sequence[Message], touched: set[PartitionOffsets]) -> int:
        """Carry out the decisions of failed messages; returns how many acks were stale."""
        session = self.session
        stale = 0
        in_place: dict[PartitionOffsets, Message] = {}
        retry: list[Message] = []
        dead: list[Message] = []
        for message in failed:
            delivery = delivery_of(message)
            offsets, epoch, offset = delivery.offsets, delivery.epoch, offset_of(message)
            if not offsets.is_current(offset, epoch):
                stale += not offsets.alive
                continue
            decision = message.decision
            kind = decision.kind if decision is not None else "retry"
            if kind == "discard":
                offsets.done(offset, epoch)
                touched.add(offsets)
            elif kind == "dead_letter":
                dead.append(message)
            elif session.ordered:
                first = in_place.get(offsets)
                if first is None or offset < offset_of(first):
                    in_place[offsets] = message
            else:
                retry.append(message)
        for offsets, message in in_place.items():
            delay = message.decision.delay if message.decision is not None else 0.0
            session.rewind(offsets, offset_of(message), delay, message.attempt + 1)
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
            delivery = delivery_of(message)
            offsets, epoch = delivery.offsets, delivery.epoch
            if error is not None:
                unpublished.append((message, error))
            elif offsets.done(offset_of(message), epoch):
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
            offsets = delivery_of(message).offsets
            seen = first.get(offsets)
            if seen is None or offset_of(message) < offset_of(seen):
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
                self.session.rewind(offsets, offset_of(message), self.session.redeliver_delay, None)


def _current(message: Message) -> bool:
    delivery = delivery_of(message)
    return delivery.offsets.is_current(offset_of(message), delivery.epoch)
