"""Tracing against the SQS server: context from message attributes, into dead-letter copies."""

from __future__ import annotations

from typing import Any

import pytest

from broadway_py import Message, Pipeline, PoisonMessageError, ProducerOptions, RetryPolicy
from broadway_py.connectors.sqs import Options, producer_factory
from tests.integration.sqs.helpers import ENDPOINT, Client, DeadLetters, Queues, empty
from tests.integration.tracing_support import (
    TRACEPARENT,
    UPSTREAM_SPAN,
    UPSTREAM_TRACE,
    Spans,
    trace_id,
    traceparent_of,
)
from tests.support import wait_until

pytestmark = pytest.mark.sqs


def handle(message: Message) -> Message:
    if message.data == b"flaky" and message.attempt == 1:
        raise TimeoutError("try again")
    if message.data == b"poison":
        raise PoisonMessageError("never")
    return message


async def test_spans_take_the_context_of_message_attributes(sqs: Client, queues: Queues) -> None:
    source = await queues.create("trace")
    dead_letter = await queues.create("trace-dlq")
    ids: dict[str, str] = {}
    for body in ("ok", "flaky", "poison"):
        attribute = {"DataType": "String", "StringValue": TRACEPARENT}
        sent: dict[str, Any] = await sqs.send_message(
            QueueUrl=source, MessageBody=body, MessageAttributes={"traceparent": attribute}
        )
        ids[body] = sent["MessageId"]
    spans = Spans("traced")
    options = Options(
        queue_url=source, endpoint_url=ENDPOINT, dead_letter=dead_letter, backlog_interval=0
    )
    pipeline = Pipeline(
        "traced",
        handle,
        ProducerOptions(producer_factory(options, demand=10)),
        retry=RetryPolicy(max_attempts=3, min_delay=0, max_delay=0, jitter=0),
        tracer=spans.tracer,
    )
    async with pipeline:
        await wait_until(lambda: len(spans.messages()) >= 4, 60, "4 message spans")
        await wait_until(lambda: empty(sqs, source), 30, "the source queue empty")
    assert len(spans.messages()) == 4
    (ok,) = spans.by_attempt(ids["ok"])
    first, second = spans.by_attempt(ids["flaky"])
    (poison,) = spans.by_attempt(ids["poison"])
    # A retry is a visibility change, no copy: each attempt is a child of the upstream span.
    for span in (ok, first, second, poison):
        assert span.parent is not None
        assert f"{span.parent.span_id:016x}" == UPSTREAM_SPAN
        assert trace_id(span) == UPSTREAM_TRACE
    assert ok.attributes["messaging.system"] == "aws_sqs"
    assert first.attributes["broadway.decision"] == "retry"
    assert poison.attributes["broadway.decision"] == "dead_letter"
    letters = DeadLetters(sqs, dead_letter)
    await wait_until(lambda: letters.at_least(1), 20, "the dead letter")
    (letter,) = letters.messages.values()
    assert letter["Body"] == "poison"
    attribute = letter["MessageAttributes"]["traceparent"]
    assert attribute["StringValue"] == traceparent_of(poison)
