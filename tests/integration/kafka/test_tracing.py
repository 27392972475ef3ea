"""Tracing against the real broker: context from record headers, into retry and DLQ copies."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaProducer

from broadway_py import (
    BatcherOptions,
    Pipeline,
    ProducerOptions,
    RetryPolicy,
)
from broadway_py.connectors.kafka import headers as h
from broadway_py.connectors.kafka import producer_factory
from tests.integration.kafka.broker import (
    BOOTSTRAP,
    TopicProbe,
    create_topics,
    kafka_options,
    unique,
)
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

pytestmark = pytest.mark.kafka

PATIENCE = 60.0


async def publish_traced(topic: str, bodies: list[bytes]) -> dict[bytes, str]:
    """Publish each body with the upstream traceparent; returns each one's message id."""
    producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, acks="all")
    await producer.start()
    try:
        ids = {}
        for body in bodies:
            headers = [("traceparent", TRACEPARENT.encode())]
            sent = await (await producer.send(topic, body, headers=headers))
            ids[body] = h.format_id(topic, sent.partition, sent.offset)
        return ids
    finally:
        await producer.stop()


async def test_spans_follow_a_record_through_its_retry_and_dead_letter_copies() -> None:
    topic = unique("trace")
    retry_topic, dead_topic = f"{topic}.retry", f"{topic}.dlq"
    await create_topics([topic, retry_topic, dead_topic], 1)
    ids = await publish_traced(topic, [b"ok", b"flaky", b"poison"])
    spans = Spans("traced")
    options = kafka_options(
        topic, unique("group"), retry_topic=retry_topic, dead_letter_topic=dead_topic
    )
    pipeline = Pipeline(
        "traced",
        Orders(),
        ProducerOptions(producer_factory(options, demand=10)),
        batchers=[BatcherOptions("db", batch_size=10, batch_timeout=0.05)],
        retry=RetryPolicy(max_attempts=3, min_delay=0.05, max_delay=0.05, jitter=0),
        tracer=spans.tracer,
    )
    async with pipeline:
        await wait_until(lambda: len(spans.messages()) >= 4, PATIENCE, "4 message spans")
    assert len(spans.messages()) == 4
    (ok,) = spans.by_attempt(ids[b"ok"])
    first, second = spans.by_attempt(ids[b"flaky"])
    (poison,) = spans.by_attempt(ids[b"poison"])
    for span in (ok, first, poison):
        assert span.parent is not None
        assert f"{span.parent.span_id:016x}" == UPSTREAM_SPAN
    assert {trace_id(s) for s in (ok, first, second, poison)} == {UPSTREAM_TRACE}
    assert second.parent is not None
    assert second.parent.span_id == span_id(first)
    assert first.attributes["broadway.decision"] == "retry"
    assert second.attributes["messaging.destination.name"] == retry_topic
    assert ok.attributes["messaging.system"] == "kafka"
    assert poison.attributes["broadway.decision"] == "dead_letter"
    probe = TopicProbe([retry_topic, dead_topic])
    await probe.start()
    try:
        await probe.end_offsets()
    finally:
        await probe.stop()
    (retried,) = probe.records[retry_topic]
    assert [v for k, v in retried.headers if k == "traceparent"] == [traceparent_of(first).encode()]
    (letter,) = probe.records[dead_topic]
    assert [v for k, v in letter.headers if k == "traceparent"] == [traceparent_of(poison).encode()]
    linked = {link.context.span_id for batch in spans.batches() for link in batch.links}
    assert {span_id(ok), span_id(second)} <= linked
