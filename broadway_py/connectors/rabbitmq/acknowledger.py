"""RabbitMQAcknowledger: carries out each message's outcome in RabbitMQ's terms.

===================  ==============================================================
outcome              what the broker is told
===================  ==============================================================
success              ``basic.ack``; one ``multiple`` frame for every tag below the
                     lowest still-outstanding delivery (see tags.py), single acks
                     for the rest
retry(delay > 0)     a copy goes to the delay queue (delays.py: a quorum queue that
                     dead-letters at least once) with its delay as per-message TTL
                     and the attempt header; the delay queue dead-letters it back
                     to the source queue when the TTL expires; once the broker
                     confirmed the copy, the original is acked
retry(0)             ``basic.nack(requeue=True)``; on a classic queue for a message
                     already redelivered (whose attempt the broker would no longer
                     count) a copy with the attempt header goes to the back of the
                     source queue instead, then the original is acked
dead_letter          a copy with the failure reason in its headers goes to the
                     dead-letter queue, then the original is acked; or, with
                     ``dead_letter.strategy: reject``, ``basic.reject`` without
                     requeue, for the queue's own dead-letter exchange
discard              ``basic.ack``
===================  ==============================================================

``on_success`` / ``on_failure`` replace these with a fixed action (ack, reject,
reject_and_requeue, reject_and_requeue_once) as in Broadway's RabbitMQ producer.

A copy the broker does not confirm is not lost: the original is requeued
instead. Acks meant for a session that is gone (the connection dropped, and
the broker redelivers those messages anyway) are dropped and reported, counted
by outcome (dropped.py), through the ``dropped_by`` callback (or the plain
``dropped`` one); they never raise into the pipeline.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field

from aiormq.abc import DeliveredMessage

from broadway_py.acknowledger import Failed, Outcomes
from broadway_py.connectors.rabbitmq import naming
from broadway_py.connectors.rabbitmq.attempts import requeue_counts
from broadway_py.connectors.rabbitmq.copies import dead_letter_properties, retry_properties
from broadway_py.connectors.rabbitmq.delays import delay_arguments, mismatch_warning
from broadway_py.connectors.rabbitmq.dropped import DroppedAcks
from broadway_py.connectors.rabbitmq.errors import describe
from broadway_py.connectors.rabbitmq.options import AckAction, Options
from broadway_py.connectors.rabbitmq.session import Session
from broadway_py.message import Message
from broadway_py.tracer import copy_context

log = logging.getLogger("broadway_py.connectors.rabbitmq")

Dropped = Callable[[int, str], None]
"""(acks dropped, why)."""
DroppedBy = Callable[[Session, DroppedAcks, str], None]
"""(the session they were meant for, acks dropped by outcome, why)."""

_kept_warned: set[str] = set()  # delay queues used as they are, warned about once per process


@dataclass
class AckStats:
    """What the acknowledger told the broker, in messages."""

    acked: int = 0
    requeued: int = 0
    rejected: int = 0
    delayed: int = 0
    dead_lettered: int = 0
    publish_failures: int = 0
    dropped: int = 0


@dataclass
class _Plan:
    acks: list[int] = field(default_factory=list)
    requeue: list[int] = field(default_factory=list)
    reject: list[int] = field(default_factory=list)

    def apply(self, action: AckAction, delivered: DeliveredMessage) -> None:
        tag: int = delivered.delivery.delivery_tag  # type: ignore[union-attr,assignment]
        if action == "ack":
            self.acks.append(tag)
        elif action == "reject":
            self.reject.append(tag)
        elif action == "reject_and_requeue":
            self.requeue.append(tag)
        elif delivered.delivery.redelivered:  # type: ignore[union-attr]
            self.reject.append(tag)  # reject_and_requeue_once, already requeued once
        else:
            self.requeue.append(tag)


class RabbitMQAcknowledger:
    """Settles the messages of one producer; ``ack_ref`` is the Session they came on."""

    def __init__(
        self, options: Options, dropped: Dropped, *, dropped_by: DroppedBy | None = None
    ) -> None:
        self.options = options
        self.stats = AckStats()
        self._dropped = dropped
        self._dropped_by = dropped_by
        self._queue = options.queue
        self._header = options.retry.attempt_header
        self._dead_letter_queue = naming.dead_letter_queue(options.dead_letter, options.queue)
        self._delay_arguments: dict[tuple[str, bool], dict[str, object]] = {}

    async def ack(self, ack_ref: Hashable, successful: Sequence[Message], failed: Failed) -> None:
        session = ack_ref
        if not isinstance(session, Session):  # pragma: no cover - not our message
            self.stats.dropped += len(successful) + len(failed)
            self._dropped(len(successful) + len(failed), f"unknown ack_ref {ack_ref!r}")
            return
        plan = _Plan()
        on_success = self.options.on_success
        if on_success == "ack":
            plan.acks.extend([m.ack_data.delivery.delivery_tag for m in successful])
        else:
            for message in successful:
                plan.apply(on_success, message.ack_data)
        if failed:
            if session.usable:
                await self._failures(session, failed, plan)
            else:
                plan.acks.extend(m.ack_data.delivery.delivery_tag for m in failed)
        session.pending -= len(successful) + len(failed)
        dropped, why = await session.settle(plan.acks, plan.requeue, plan.reject)
        stats = self.stats
        if dropped:
            self._drop(session, plan, dropped, why, successful, failed)
        else:
            stats.acked += len(plan.acks)
            stats.requeued += len(plan.requeue)
            stats.rejected += len(plan.reject)

    def _drop(
        self,
        session: Session,
        plan: _Plan,
        dropped: int,
        why: str,
        successful: Sequence[Message],
        failed: Failed,
    ) -> None:
        self.stats.dropped += dropped
        if self._dropped_by is None:
            self._dropped(dropped, why)
            return
        # settle sends requeues, then rejects, then acks in tag order: the last
        # ``dropped`` of those are the ones that did not go (on a lost session,
        # all of them; for tags a live channel no longer held, an estimate).
        sent_order = [*plan.requeue, *plan.reject, *sorted(plan.acks)]
        unsent = set(sent_order[len(sent_order) - dropped :])

        def count(messages: Iterable[Message]) -> int:
            return sum(1 for m in messages if m.ack_data.delivery.delivery_tag in unsent)

        outcomes = Outcomes(
            count(successful),
            count(m for m, _ in failed.retry),
            count(m for m, _ in failed.dead_letter),
            count(m for m, _ in failed.discard),
        )
        self._dropped_by(session, outcomes, why)

    async def _failures(self, session: Session, failed: Failed, plan: _Plan) -> None:
        on_failure = self.options.on_failure
        if on_failure != "decision":
            for message in failed:
                plan.apply(on_failure, message.ack_data)
            return
        jobs: list[tuple[int, str, Awaitable[None]]] = []
        for message, decision in failed.retry:
            delivered: DeliveredMessage = message.ack_data
            tag = _tag(delivered)
            if decision.delay > 0:
                jobs.append((tag, "delayed", self._delay(session, message, decision.delay)))
            elif requeue_counts(
                delivered.header.properties.headers,
                bool(delivered.delivery.redelivered),  # type: ignore[union-attr]
            ):
                plan.requeue.append(tag)
            else:
                jobs.append((tag, "requeued", self._republish(session, message)))
        reject = self.options.dead_letter.strategy == "reject"
        for message, decision in failed.dead_letter:
            tag = _tag(message.ack_data)
            if reject:
                plan.reject.append(tag)
            else:
                reason = decision.reason or message.status.reason
                jobs.append((tag, "dead_lettered", self._dead_letter(session, message, reason)))
        plan.acks.extend(_tag(message.ack_data) for message, _ in failed.discard)
        if not jobs:
            return
        results = await asyncio.gather(*(job for _, _, job in jobs), return_exceptions=True)
        problems: list[str] = []
        for (tag, what, _), result in zip(jobs, results, strict=True):
            if isinstance(result, BaseException):
                problems.append(describe(result))
                plan.requeue.append(tag)
            else:
                plan.acks.append(tag)
                if what == "delayed":
                    self.stats.delayed += 1
                elif what == "dead_lettered":
                    self.stats.dead_lettered += 1
        if problems:
            self.stats.publish_failures += len(problems)
            log.warning(
                "could not publish %d retry / dead-letter copies to RabbitMQ (%s); "
                "requeued those messages instead",
                len(problems),
                problems[0],
            )

    async def _delay(self, session: Session, message: Message, delay: float) -> None:
        delivered: DeliveredMessage = message.ack_data
        milliseconds = naming.delay_ms(delay)
        queue = naming.delay_queue(self.options.retry, self._queue, milliseconds)
        properties = retry_properties(
            delivered.header.properties,
            self._header,
            message.attempt + 1,
            milliseconds,
            copy_context(message),
        )
        try:
            kept = await session.declare_delay_queue(
                queue, self._arguments(queue, milliseconds, session.at_least_once)
            )
            if kept is not None and queue not in _kept_warned:
                _kept_warned.add(queue)
                log.warning("%s", mismatch_warning(queue, kept))
            await session.publish(queue, delivered.body, properties)
        except BaseException:
            session.forget_declared(queue)  # deleted behind our back? declare it again
            raise

    def _arguments(self, queue: str, milliseconds: int, at_least_once: bool) -> dict[str, object]:
        """The declaration of delay queue ``queue`` (delays.py), made once per queue."""
        key = (queue, at_least_once)
        arguments = self._delay_arguments.get(key)
        if arguments is None:
            bucket = naming.bucket_ms(milliseconds) if self.options.retry.bucketed else None
            arguments = delay_arguments(self._queue, bucket, at_least_once)
            self._delay_arguments[key] = arguments
        return arguments

    async def _republish(self, session: Session, message: Message) -> None:
        delivered: DeliveredMessage = message.ack_data
        properties = retry_properties(
            delivered.header.properties,
            self._header,
            message.attempt + 1,
            None,
            copy_context(message),
        )
        await session.publish(self._queue, delivered.body, properties)

    async def _dead_letter(self, session: Session, message: Message, reason: str) -> None:
        delivered: DeliveredMessage = message.ack_data
        properties = dead_letter_properties(
            delivered.header.properties,
            self._header,
            reason=reason,
            attempts=message.attempt,
            source_queue=self._queue,
            now=time.time(),
            trace=copy_context(message),
        )
        await session.publish(self._dead_letter_queue, delivered.body, properties)


def _tag(delivered: DeliveredMessage) -> int:
    return delivered.delivery.delivery_tag  # type: ignore[union-attr,return-value]
