"""SqsAcknowledger: carries out the pipeline's outcomes in SQS's terms.

- success and discard: ``DeleteMessageBatch``, 10 per call;
- retry(delay): ``ChangeMessageVisibilityBatch`` to the delay (whole seconds,
  rounded up); the next delivery's attempt comes from ApproximateReceiveCount;
- dead_letter: to a dead-letter queue with ``SendMessageBatch`` (the failure
  reason and source in message attributes), then deleted; or, left to the
  queue's redrive policy, made visible at once (SQS moves it once its receive
  count passes maxReceiveCount; this producer does not handle it again); or,
  with no dead-letter queue at all, left invisible for the visibility timeout.

Calls that fail because SQS cannot be reached are retried with backoff while
the messages are still invisible; what cannot be carried out is logged and
reported as ``AcksDropped``, split by the outcome the pipeline had decided:
SQS redelivers it, so nothing is lost.

A dead letter that was sent but whose delete then failed counts as dead-lettered
(the copy is in the dead-letter queue): the ledger remembers it as deleted, so
when SQS redelivers it this producer deletes it again instead of handling it
(and dead-lettering it) a second time. Another consumer of the queue that
receives it first has no such memory: that one may send a second copy.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from broadway_py.acknowledger import Failed
from broadway_py.connectors.sqs.batching import (
    BATCH_BYTES,
    BatchResult,
    EntryFailure,
    batches,
    run_batch,
)
from broadway_py.connectors.sqs.client import SqsClient
from broadway_py.connectors.sqs.dead_letter import (
    DeadLetterPlan,
    add_trace,
    dead_letter_entry,
    entry_size,
)
from broadway_py.connectors.sqs.errors import TRANSIENT_CODES, Backoff, translate
from broadway_py.connectors.sqs.ledger import Ledger, Received, Stats
from broadway_py.connectors.sqs.options import MAX_VISIBILITY
from broadway_py.errors import BrokerUnavailable
from broadway_py.message import Message
from broadway_py.telemetry import AcksDropped, Telemetry
from broadway_py.tracer import copy_context

log = logging.getLogger("broadway_py.connectors.sqs")

T = TypeVar("T")
Clock = Callable[[], float]
#: The outcome a record's ack stands for (as ``MessagesAcked`` counts it); None: not an
#: ack the pipeline handed over (a release on close, a redelivery sent back).
Outcome = Literal["successful", "retried", "dead_lettered", "discarded"] | None
OutcomeOf = Callable[[Received], Outcome]


def visibility_seconds(delay: float) -> int:
    """A retry delay as an SQS visibility timeout: whole seconds, 0 to 12 hours."""
    if delay <= 0:
        return 0
    return min(MAX_VISIBILITY, math.ceil(delay))


@dataclass(frozen=True, slots=True)
class _Job(Generic[T]):
    """One kind of batch call: an entry per item, the call, its name, and until when to retry.

    ``deadline(item)``: when the item's visibility ends (past it, SQS redelivers the
    message anyway); ``queue``: the queue the call goes to, for errors.
    """

    entry: Callable[[str, T], dict[str, Any]]
    call: Callable[[list[dict[str, Any]]], Awaitable[dict[str, Any]]]
    what: str
    deadline: Callable[[T], float]
    queue: str


@dataclass(eq=False)
class SqsAcknowledger:
    """The acknowledger of one SQS producer's messages (their ``ack_data`` is Received).

    A plain record of what it works with (compared by identity, as the pipeline
    groups acks by acknowledger).
    """

    client: SqsClient
    queue_url: str
    queue_name: str
    plan: DeadLetterPlan
    ledger: Ledger
    stats: Stats
    telemetry: Telemetry
    clock: Clock

    async def ack(self, ack_ref: Hashable, successful: Sequence[Message], failed: Failed) -> None:
        deletes: list[Received] = [m.ack_data for m in successful]
        visibility: list[tuple[Received, int]] = []
        dead_letters: list[tuple[Received, str]] = []
        discarded: list[Received] = []  # deleted too
        parked: list[Received] = []  # dead letters left to SQS: a visibility change
        if failed:
            visibility.extend(
                (message.ack_data, visibility_seconds(decision.delay))
                for message, decision in failed.retry
            )
            plan = self.plan
            for message, decision in failed.dead_letter:
                record: Received = message.ack_data
                if plan.queue is not None:
                    add_trace(record, copy_context(message))
                    dead_letters.append((record, decision.reason or message.status.reason))
                elif plan.redrive:
                    visibility.append((record, 0))
                    parked.append(record)
                    self.ledger.mark_dead([record])
                else:
                    visibility.append((record, plan.leave_visibility))
                    parked.append(record)
            discarded.extend(message.ack_data for message, _ in failed.discard)
            deletes.extend(discarded)
        ledger = self.ledger
        ledger.settle(deletes)
        ledger.settle(r for r, _ in visibility)
        ledger.settle(r for r, _ in dead_letters)
        jobs: list[Awaitable[None]] = []
        if deletes:
            jobs.append(
                self.delete(deletes, outcome=_split_outcomes("successful", discarded, "discarded"))
            )
        if visibility:
            jobs.append(
                self.change_visibility(
                    visibility, outcome=_split_outcomes("retried", parked, "dead_lettered")
                )
            )
        if dead_letters:
            jobs.append(self.dead_letter(dead_letters))
        if len(jobs) == 1:
            await jobs[0]
        elif jobs:
            await asyncio.gather(*jobs)

    # -- the three kinds of calls ---------------------------------------------------

    async def delete(
        self, records: Sequence[Received], quiet: bool = False, outcome: OutcomeOf | None = None
    ) -> None:
        """Delete these messages (``quiet``: failures are not reported, for re-deletes).

        ``outcome`` says which outcome each record's ack stands for (None: none).
        """
        done, failed = await self._delete(records)
        if not quiet:
            self.stats.deleted += len(done)
            if failed:
                self._dropped(failed, "delete", _outcomes_of(failed, outcome, lambda r: r))

    async def _delete(
        self, records: Sequence[Received]
    ) -> tuple[list[Received], list[EntryFailure[Received]]]:
        def entry(entry_id: str, record: Received) -> dict[str, Any]:
            return {"Id": entry_id, "ReceiptHandle": record.receipt_handle}

        async def call(entries: list[dict[str, Any]]) -> dict[str, Any]:
            return await self.client.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)

        job = _Job(entry, call, "DeleteMessageBatch", _deadline, self.queue_name)
        done, failed = await self._all(records, job)
        self.ledger.mark_deleted(done)
        return done, failed

    async def change_visibility(
        self, items: Sequence[tuple[Received, int]], outcome: OutcomeOf | None = None
    ) -> None:
        """Set each message's visibility timeout (0: visible again at once).

        ``outcome`` says which outcome each record's ack stands for (None: none, as
        for a release on close).
        """

        def entry(entry_id: str, item: tuple[Received, int]) -> dict[str, Any]:
            return {
                "Id": entry_id,
                "ReceiptHandle": item[0].receipt_handle,
                "VisibilityTimeout": item[1],
            }

        async def call(entries: list[dict[str, Any]]) -> dict[str, Any]:
            return await self.client.change_message_visibility_batch(
                QueueUrl=self.queue_url, Entries=entries
            )

        job = _Job(entry, call, "ChangeMessageVisibilityBatch", _first_deadline, self.queue_name)
        done, failed = await self._all(items, job)
        self.stats.visibility_changed += len(done)
        if failed:
            self._dropped(
                failed, "change visibility", _outcomes_of(failed, outcome, lambda i: i[0])
            )

    async def dead_letter(self, items: Sequence[tuple[Received, str]]) -> None:
        """Send to the dead-letter queue with the reason, then delete what was sent."""
        target = self.plan.queue
        assert target is not None

        def entry(entry_id: str, item: tuple[Received, str]) -> dict[str, Any]:
            return dead_letter_entry(entry_id, item[0], item[1], self.queue_name, target.fifo)

        async def call(entries: list[dict[str, Any]]) -> dict[str, Any]:
            return await self.client.send_message_batch(QueueUrl=target.url, Entries=entries)

        job = _Job(entry, call, f"SendMessageBatch to {target.name}", _first_deadline, target.name)
        sent, failed = await self._all(
            items, job, max_bytes=BATCH_BYTES, weight=lambda i: entry_size(i[0], i[1])
        )
        self.stats.dead_lettered += len(sent)
        if failed:
            self._dropped(failed, f"dead-letter to {target.name}", ["dead_lettered"] * len(failed))
        if sent:
            await self._delete_dead_lettered([record for record, _ in sent])

    async def _delete_dead_lettered(self, records: list[Received]) -> None:
        """Delete messages whose copy is in the dead-letter queue (see the module's docstring)."""
        done, failed = await self._delete(records)
        self.stats.deleted += len(done)
        if failed:
            first = failed[0]
            log.warning(
                "SQS could not delete %d dead-lettered message(s) (%s: %s); they are deleted "
                "again when SQS redelivers them",
                len(failed),
                first.code,
                first.message,
            )
            self.ledger.mark_deleted(f.item for f in failed)

    # -- machinery --------------------------------------------------------------------

    async def _all(
        self,
        items: Sequence[T],
        job: _Job[T],
        max_bytes: int | None = None,
        weight: Callable[[T], int] | None = None,
    ) -> tuple[list[T], list[EntryFailure[T]]]:
        chunks = list(batches(items, max_bytes=max_bytes, weight=weight))
        if len(chunks) == 1:
            results = [await self._one(chunks[0], job)]
        else:
            results = await asyncio.gather(*(self._one(chunk, job) for chunk in chunks))
        done = [item for result in results for item in result.succeeded]
        failed = [failure for result in results for failure in result.failed]
        return done, failed

    async def _one(self, items: list[T], job: _Job[T]) -> BatchResult[T]:
        """One batch call, retried while SQS is unreachable and the messages still invisible."""
        outcome: BatchResult[T] = BatchResult([], [])
        pending = items
        backoff = Backoff(0.1, 2.0)
        while pending:
            until = max(job.deadline(item) for item in pending)
            try:
                result = await run_batch(pending, job.entry, job.call)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                translated = translate(error, job.queue, job.what)
                delay = backoff.next_delay()
                if isinstance(translated, BrokerUnavailable) and self.clock() + delay < until:
                    await asyncio.sleep(delay)
                    continue
                outcome.failed.extend(
                    EntryFailure(item, type(translated).__name__, str(translated), False)
                    for item in pending
                )
                return outcome
            outcome.succeeded.extend(result.succeeded)
            retry = [
                f.item
                for f in result.failed
                if not f.sender_fault and (f.code in TRANSIENT_CODES or f.code == "Missing")
            ]
            final = [f for f in result.failed if f.item not in retry]
            outcome.failed.extend(final)
            if retry:
                delay = backoff.next_delay()
                if self.clock() + delay >= until:
                    outcome.failed.extend(f for f in result.failed if f.item in retry)
                    return outcome
                await asyncio.sleep(delay)
            pending = retry
        return outcome

    def _dropped(
        self, failures: Sequence[EntryFailure[Any]], what: str, outcomes: Sequence[Outcome]
    ) -> None:
        """Report failed entries; ``outcomes``: which outcome each one's ack stood for."""
        first = failures[0]
        reason = f"SQS could not {what} {len(failures)} message(s): {first.code}: {first.message}"
        log.warning("%s; SQS will redeliver them", reason)
        self.stats.dropped += len(failures)
        if self.telemetry.enabled:
            self.telemetry.emit(
                AcksDropped(
                    len(failures),
                    reason,
                    successful=outcomes.count("successful"),
                    retried=outcomes.count("retried"),
                    dead_lettered=outcomes.count("dead_lettered"),
                    discarded=outcomes.count("discarded"),
                )
            )


def _split_outcomes(
    usual: Outcome, others: Sequence[Received] = (), other: Outcome = None
) -> OutcomeOf:
    """Which outcome a record's ack stands for: ``other`` for ``others``, ``usual`` for the rest.

    By identity, so that the common case (no ``others``) builds nothing per record.
    """
    if not others:
        return lambda record: usual
    marked = {id(record) for record in others}
    return lambda record: other if id(record) in marked else usual


def _outcomes_of(
    failures: Sequence[EntryFailure[T]], outcome: OutcomeOf | None, record: Callable[[T], Received]
) -> list[Outcome]:
    if outcome is None:
        return [None] * len(failures)
    return [outcome(record(failure.item)) for failure in failures]


def _deadline(record: Received) -> float:
    return record.deadline


def _first_deadline(item: tuple[Received, Any]) -> float:
    return item[0].deadline
