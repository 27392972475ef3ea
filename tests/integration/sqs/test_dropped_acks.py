"""Acks SQS refuses are reported as dropped, per outcome, and not counted as told.

The handler spoils the receipt handle of some messages at their first
delivery, as if it had expired: SQS refuses their delete or visibility change,
and redelivers them after their visibility timeout. A message dead-lettered
whose delete was refused is in the dead-letter queue once: when it comes back,
the producer deletes it instead of dead-lettering it again.
"""

from __future__ import annotations

from collections import Counter

import pytest

from broadway_py import (
    Decision,
    Handler,
    Message,
    ProcessorOptions,
    RetryPolicy,
)
from broadway_py.connectors.sqs import Options, SqsProducer
from tests.integration.ack_reports import AckReports
from tests.integration.sqs.helpers import (
    ENDPOINT,
    Client,
    DeadLetters,
    Queues,
    empty,
    pipeline_of,
    publish,
)
from tests.support import wait_until

pytestmark = pytest.mark.sqs

SPOILED = "spoiled-receipt-handle"


class Spoiler(Handler):
    """``<outcome>-<spoil>-<n>``: the outcome wanted; ``bad``: spoil the first delivery's handle."""

    def __init__(self) -> None:
        self.handled: Counter[str] = Counter()

    def handle_message(self, message: Message) -> Message:
        body = message.data.decode()
        self.handled[body] += 1
        outcome, spoil, _ = body.split("-")
        if spoil == "bad" and message.attempt == 1:
            message.ack_data.receipt_handle = f"{SPOILED}-{body}"  # distinct, as SQS wants
        if outcome == "dead" or (outcome == "retry" and message.attempt == 1):
            raise RuntimeError(outcome)
        if outcome == "discard":
            raise LookupError("unwanted")
        return message

    def handle_failed(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            if isinstance(message.status.exception, LookupError):
                message.decision = Decision.discard("unwanted")
            elif message.data.startswith(b"dead-"):
                message.decision = Decision.dead_letter("dead")
        return messages


async def test_refused_acks_are_dropped_by_outcome_and_told_once(
    sqs: Client, queues: Queues
) -> None:
    source = await queues.create("dropped", visibility_timeout=2)
    dead_letter = await queues.create("dropped-dlq")
    sent = [
        "ok-good-0",
        "ok-good-1",
        "ok-bad-2",
        "ok-bad-3",
        "discard-bad-4",
        "retry-bad-5",
        "dead-bad-6",
    ]
    await publish(sqs, source, sent)
    handler = Spoiler()
    reports = AckReports("sqs-dropped")
    dropped, stats = reports.dropped, reports.stats
    options = Options(
        queue_url=source,
        endpoint_url=ENDPOINT,
        dead_letter=dead_letter,
        heartbeat=False,
        wait_time_seconds=1,
        backlog_interval=0,
    )
    pipeline = pipeline_of(
        "sqs-dropped",
        handler,
        options,
        processors=ProcessorOptions(concurrency=1, max_demand=10),
        retry=RetryPolicy(max_attempts=3, min_delay=0, max_delay=0, jitter=0),
        telemetry=reports.telemetry,
    )
    async with pipeline:
        await wait_until(lambda: empty(sqs, source), 40, "the source queue empty")
        producer = pipeline.producers[0]
    assert isinstance(producer, SqsProducer)

    # count, successful, retried, dead_lettered, discarded: summed over the reports.
    totals = [sum(getattr(d, f) for d in dropped) for f in FIELDS]
    assert totals == [4, 2, 1, 0, 1]
    assert all("ReceiptHandleIsInvalid" in d.reason for d in dropped)
    assert {d.reason.split(" ")[3] for d in dropped} == {"delete", "change"}
    # Everything spoiled came back and was acked again, except the dead letter, deleted
    # (not handled) when it came back.
    assert handler.handled == {
        "ok-good-0": 1,
        "ok-good-1": 1,
        "ok-bad-2": 2,
        "ok-bad-3": 2,
        "discard-bad-4": 2,
        "retry-bad-5": 2,
        "dead-bad-6": 1,
    }
    assert producer.stats.redeliveries_deleted == 1
    # What SQS was told: each message's outcome once.
    assert stats.acked == {"successful": 5, "retried": 0, "dead_lettered": 1, "discarded": 1}
    assert stats.acks_dropped == 4
    letters = DeadLetters(sqs, dead_letter)
    await wait_until(lambda: letters.at_least(1), 10, "the dead letter")
    assert letters.bodies() == ["dead-bad-6"]


FIELDS = ("count", "successful", "retried", "dead_lettered", "discarded")
