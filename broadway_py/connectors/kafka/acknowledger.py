"""KafkaAcknowledger: carries out each message's outcome, then marks its offset done.

- success, discard: mark done;
- dead_letter: publish a copy to the dead-letter topic (reason in headers),
  then mark done;
- retry: publish a copy to the retry topic (next attempt and not-before time
  in headers), then mark done, so the partition is not blocked; in ordered
  mode instead: pause the partition and read it again from that message after
  the delay (it is not marked done, so nothing after it is committed first).

Offsets are committed by the session, on an interval, up to the highest
contiguous done offset. When a copy cannot be published, the original is not
marked done: its partition is read again from it, so the message is
redelivered, never lost.

An ack the broker will never be told of is dropped and reported (as
``AcksDropped``, split by outcome): one for a partition revoked meanwhile
(its new owner reads the message again), and one for an offset that its
partition will read again (rewound by an ordered-mode retry or a copy that
could not be published). In ordered mode a call's rewinds are made before its
successes are marked, so that a success after a rewound offset is counted as
dropped, not as told: the commit will never pass it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Hashable, Sequence
from typing import Protocol

from broadway_py.acknowledger import Decided, Failed
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

    def acks_dropped(
        self, reason: str, successful: int = 0, failed: Sequence[Message] = ()
    ) -> None:
        """``successful`` successes and these ``failed`` messages were not acked: ``reason``."""
        ...

    def acked(self, touched: set[PartitionOffsets]) -> None:
        """Offsets of these partitions were marked done."""
        ...


REVOKED = "partition revoked before the ack"
REWOUND = "partition rewound: read again"
CLOSED = "the connector is closed"


class _Stale:
    """Failed messages of one ack call whose outcome can no longer be carried out."""

    __slots__ = ("revoked", "rewound")

    def __init__(self) -> None:
        self.revoked: list[Message] = []
        self.rewound: list[Message] = []

    def note(self, message: Message, offsets: PartitionOffsets) -> None:
        (self.rewound if offsets.alive else self.revoked).append(message)


class KafkaAcknowledger:
    def __init__(self, session: AckSession) -> None:
        self.session = session

    async def ack(self, ack_ref: Hashable, successful: Sequence[Message], failed: Failed) -> None:
        touched: set[PartitionOffsets] = set()
        stale: _Stale | None = None
        decided: tuple[list[Decided], list[Decided]] | None = None
        if failed:
            # First: a retry in ordered mode rewinds its partition before any success is
            # marked (see the module's docstring).
            stale = _Stale()
            decided = self._decide(failed, touched, stale)
        revoked = rewound = 0
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
                    # An older epoch: the offset may have been rewound since.
                    if not offsets.done(message.ack_data, epoch):
                        rewound += 1
                else:
                    revoked += 1
        if decided is not None and stale is not None:
            retry, dead = decided
            if retry or dead:
                await self._publish(retry, dead, touched, stale)
        if touched:
            self.session.acked(touched)
        if stale is not None or revoked or rewound:
            self._report_stale(revoked, rewound, stale)

    def _report_stale(self, revoked: int, rewound: int, stale: _Stale | None) -> None:
        """Report the acks of this call that were dropped (``revoked``/``rewound`` successes)."""
        revoked_failed = stale.revoked if stale is not None else []
        rewound_failed = stale.rewound if stale is not None else []
        if revoked or revoked_failed:
            self.session.acks_dropped(REVOKED, revoked, revoked_failed)
        if rewound or rewound_failed:
            self.session.acks_dropped(REWOUND, rewound, rewound_failed)

    def _decide(
        self, failed: Failed, touched: set[PartitionOffsets], stale: _Stale
    ) -> tuple[list[Decided], list[Decided]]:
        """Carry out what needs no broker call; returns the retries and dead letters to publish.

        Discards are marked done. In ordered mode the first retried message of each
        partition rewinds it (its retry); what follows it in the partition is read again.
        """
        ordered = self.session.ordered
        in_place = self._rewind_for_retries(failed.retry) if ordered else {}
        for message, _ in failed.discard:
            if _live(message, in_place, stale):
                delivery = delivery_of(message)
                delivery.offsets.done(offset_of(message), delivery.epoch)
                touched.add(delivery.offsets)
        dead = [pair for pair in failed.dead_letter if _live(pair[0], in_place, stale)]
        retry: list[Decided] = []
        for message, decision in failed.retry:
            if not _live(message, in_place, stale):
                continue
            if not ordered:
                retry.append((message, decision))
            elif in_place.get(offsets := delivery_of(message).offsets) is not message:
                stale.note(message, offsets)  # not read again: no rewind was made
        return retry, dead

    def _rewind_for_retries(self, retries: Sequence[Decided]) -> dict[PartitionOffsets, Message]:
        """Ordered mode: rewind each partition to its first retried message; returns them."""
        first: dict[PartitionOffsets, Decided] = {}
        for message, decision in retries:
            if _current(message):
                offsets = delivery_of(message).offsets
                seen = first.get(offsets)
                if seen is None or offset_of(message) < offset_of(seen[0]):
                    first[offsets] = (message, decision)
        for offsets, (message, decision) in first.items():
            self.session.rewind(offsets, offset_of(message), decision.delay, message.attempt + 1)
        return {offsets: message for offsets, (message, _) in first.items()}

    async def _publish(
        self,
        retry: list[Decided],
        dead: list[Decided],
        touched: set[PartitionOffsets],
        stale: _Stale,
    ) -> None:
        publisher = self.session.publisher
        copied = [message for message, _ in (*retry, *dead)]
        if publisher is None:
            self.session.acks_dropped(CLOSED, 0, copied)
            return
        jobs = []
        if retry:
            jobs.append(publisher.retry(retry))
        if dead:
            jobs.append(publisher.dead_letter(dead))
        outcomes = [error for result in await asyncio.gather(*jobs) for error in result]
        unpublished: list[tuple[Message, BaseException]] = []
        for message, error in zip(copied, outcomes, strict=True):
            delivery = delivery_of(message)
            offsets, epoch = delivery.offsets, delivery.epoch
            if error is not None:
                unpublished.append((message, error))
            elif offsets.done(offset_of(message), epoch):
                touched.add(offsets)
            else:  # revoked or rewound while the copy was written
                stale.note(message, offsets)
        if unpublished:
            self._redeliver(unpublished, publisher)

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
        self.session.acks_dropped(
            f"publish failed: {describe_exception(error)}", 0, [m for m, _ in unpublished]
        )
        for offsets, message in first.items():
            if _current(message):
                self.session.rewind(offsets, offset_of(message), self.session.redeliver_delay, None)


def _current(message: Message) -> bool:
    delivery = delivery_of(message)
    return delivery.offsets.is_current(offset_of(message), delivery.epoch)


def _live(message: Message, in_place: dict[PartitionOffsets, Message], stale: _Stale) -> bool:
    """Whether the message's offset is still to be settled by this call; else noted as stale.

    A retried message that rewound its partition (``in_place``) is not stale: that
    read-again is its retry.
    """
    if _current(message):
        return True
    offsets = delivery_of(message).offsets
    if in_place.get(offsets) is not message:
        stale.note(message, offsets)
    return False
