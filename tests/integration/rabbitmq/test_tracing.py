"""Tracing against the real server: context from AMQP headers, into retry and DLQ copies."""

from __future__ import annotations

from typing import Any

import pytest
from pamqp.commands import Basic

from broadway_py import (
    BatcherOptions,
    Pipeline,
    ProcessorOptions,
    ProducerOptions,
    RetryPolicy,
)
from broadway_py.connectors.rabbitmq import producer_factory
from tests.integration.rabbitmq.support import Broker, options, raw_channel
from tests.integration.tracing_support import (
    TRACEPARENT,
    UPSTREAM_SPAN,
    UPSTREAM_TRACE,
    Orders,
    Spans,
    span_id,
    trace_id,
    traceparent_of,
)
from tests.support import wait_until

pytestmark = pytest.mark.rabbitmq

PATIENCE = 30.0


async def publish(broker: Broker, queue: str, bodies: list[bytes]) -> None:
    channel = await raw_channel(broker.connection)
    for body in bodies:
        properties = Basic.Properties(
            delivery_mode=2, message_id=body.decode(), headers={"traceparent": TRACEPARENT}
        )
        await channel.basic_publish(body, routing_key=queue, properties=properties)
    await channel.close()


async def test_spans_follow_a_message_through_its_retry_and_dead_letter_copies(
    broker: Broker,
) -> None:
    queue = broker.name("trace")
    await broker.declare(queue)
    await publish(broker, queue, [b"ok", b"flaky", b"poison"])
    spans = Spans("traced")
    pipeline = Pipeline(
        "traced",
        Orders(),
        ProducerOptions(producer_factory(options(queue), demand=10)),
        ProcessorOptions(concurrency=2, max_demand=5),
        [BatcherOptions("db", batch_size=10, batch_timeout=0.05)],
        retry=RetryPolicy(max_attempts=3, min_delay=0.05, max_delay=0.05, jitter=0),
        tracer=spans.tracer,
    )
    async with pipeline:
        await wait_until(lambda: len(spans.messages()) >= 4, PATIENCE, "4 message spans")

        async def drained() -> bool:
            return await broker.held(queue) == 0

        await wait_until(drained, PATIENCE, "the queue and its delay queue to be empty")
    assert len(spans.messages()) == 4
    (ok,) = spans.by_attempt("ok")
    first, second = spans.by_attempt("flaky")
    (poison,) = spans.by_attempt("poison")
    for span in (ok, first, poison):  # children of the context they were published with
        assert span.parent is not None
        assert f"{span.parent.span_id:016x}" == UPSTREAM_SPAN
    assert {trace_id(s) for s in (ok, first, second, poison)} == {UPSTREAM_TRACE}
    # The retry went through a delay queue as a copy carrying the failed attempt's context.
    assert second.parent is not None
    assert second.parent.span_id == span_id(first)
    assert (first.attributes["broadway.decision"], first.attributes["broadway.outcome"]) == (
        "retry",
        "failed",
    )
    assert second.attributes["broadway.outcome"] == "ok"
    assert ok.attributes["messaging.system"] == "rabbitmq"
    assert ok.attributes["messaging.destination.name"] == queue
    assert poison.attributes["broadway.decision"] == "dead_letter"
    (letter,) = await broker.get_all(f"{queue}.dlq")
    headers: dict[str, Any] = dict(letter.header.properties.headers or {})
    assert headers["traceparent"] == traceparent_of(poison)
    linked = {link.context.span_id for batch in spans.batches() for link in batch.links}
    assert {span_id(ok), span_id(second)} <= linked
    assert span_id(poison) not in linked  # never reached a batcher
