"""N messages with injected failures end with exact outcome counts in SQS."""

from __future__ import annotations

from collections import defaultdict

import pytest

from broadway_py import (
    Decision,
    Handler,
    Message,
    Pipeline,
    ProcessorOptions,
    ProducerOptions,
    RetryPolicy,
    Telemetry,
)
from broadway_py.connectors.sqs import Options, SqsProducer, producer_factory
from broadway_py.connectors.sqs.dead_letter import ATTEMPT_ATTRIBUTE, REASON_ATTRIBUTE
from tests.integration.sqs.helpers import (
    ENDPOINT,
    AckTotals,
    Client,
    DeadLetters,
    Queues,
    publish,
    remaining,
)
from tests.support import wait_until

pytestmark = pytest.mark.sqs

N = 100


class Unwanted(Exception):
    """Marks a message its handler wants discarded."""


class Injected(Handler):
    """i % 10 == 0 always fails, == 1 fails once, == 2 is discarded, the rest succeed."""

    def __init__(self) -> None:
        self.attempts: dict[str, list[int]] = defaultdict(list)

    def handle_message(self, message: Message) -> Message:
        body = message.data.decode()
        self.attempts[body].append(message.attempt)
        kind = int(body.rsplit("-", 1)[1]) % 10
        if kind == 0:
            raise RuntimeError("always fails")
        if kind == 1 and message.attempt == 1:
            raise RuntimeError("fails once")
        if kind == 2:
            raise Unwanted("not for us")
        return message

    def handle_failed(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            if isinstance(message.status.exception, Unwanted):
                message.decision = Decision.discard("unwanted")
        return messages


async def test_injected_failures_end_with_exact_outcome_counts(sqs: Client, queues: Queues) -> None:
    source = await queues.create("outcomes")
    dead_letter = await queues.create("outcomes-dlq")
    sent = [f"m-{i:03d}" for i in range(N)]
    await publish(sqs, source, sent)
    handler = Injected()
    telemetry = Telemetry("sqs-outcomes")
    totals = AckTotals(telemetry)
    options = Options(
        queue_url=source, endpoint_url=ENDPOINT, dead_letter=dead_letter, backlog_interval=0
    )
    pipeline = Pipeline(
        "sqs-outcomes",
        handler,
        ProducerOptions(producer_factory(options, demand=40)),
        ProcessorOptions(concurrency=4, max_demand=10),
        retry=RetryPolicy(max_attempts=2, min_delay=0, max_delay=0, jitter=0),
        telemetry=telemetry,
    )
    async with pipeline:
        await wait_until(lambda: totals.final() >= N, 60, "every message settled")
        await wait_until(lambda: _empty(sqs, source), 30, "the source queue empty")
        producer = pipeline.producers[0]
    assert isinstance(producer, SqsProducer)

    # successful, retried, dead-lettered, discarded
    assert totals.as_tuple() == (80, 20, 10, 10)
    assert producer.stats.deleted == 100  # 80 successes, 10 dead letters, 10 discards
    assert producer.stats.visibility_changed >= 20  # the retries (and any release on close)
    assert producer.stats.dropped == 0

    letters = DeadLetters(sqs, dead_letter)
    await wait_until(lambda: _count(letters, 10), 20, "ten dead letters")
    assert letters.bodies() == [b for b in sent if int(b[2:]) % 10 == 0]
    for letter in letters.messages.values():
        attributes = letter["MessageAttributes"]
        assert attributes[REASON_ATTRIBUTE]["StringValue"] == "RuntimeError: always fails"
        assert attributes[ATTEMPT_ATTRIBUTE]["StringValue"] == "2"

    expected = {body: [1, 2] if int(body[2:]) % 10 in (0, 1) else [1] for body in sent}
    assert {body: sorted(a) for body, a in handler.attempts.items()} == expected


async def _empty(sqs: Client, url: str) -> bool:
    return await remaining(sqs, url) == 0


async def _count(letters: DeadLetters, expected: int) -> bool:
    return len(await letters.collect()) >= expected
