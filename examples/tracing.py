"""OpenTelemetry tracing of a pipeline on the embedded in-memory broker.

    pip install 'broadway-py[otel]'
    python examples/tracing.py

Three orders arrive, each with the W3C ``traceparent`` of the request that sent
it. One fails its first attempt and is retried; its second attempt's span is a
child of the first's, in the same trace. The spans go to an in-memory exporter
and are printed: one per message handled, one per batch (linked to its
messages' spans).
"""

from __future__ import annotations

import asyncio

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from broadway_py import (
    BatcherOptions,
    BatchInfo,
    Handler,
    Message,
    Pipeline,
    ProducerOptions,
    RetryPolicy,
)
from broadway_py.connectors.memory import MemoryBroker, MemoryProducer
from broadway_py.otel import OpenTelemetryTracer

UPSTREAM = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


class Orders(Handler):
    def handle_message(self, message: Message) -> Message:
        if message.data == b"order-2" and message.attempt == 1:
            raise TimeoutError("the database was busy")  # retried, then it succeeds
        return message.put_batcher("db")

    def handle_batch(self, batcher: str, messages: list[Message], info: BatchInfo) -> list[Message]:
        return messages  # saved


async def main() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))

    orders = MemoryBroker().queue("orders")
    for n in (1, 2, 3):
        orders.push(b"order-%d" % n, {"headers": {"traceparent": UPSTREAM}})
    pipeline = Pipeline(
        "orders",
        Orders(),
        ProducerOptions(MemoryProducer.factory(orders)),
        batchers=[BatcherOptions("db", batch_size=10, batch_timeout=0.1)],
        retry=RetryPolicy(max_attempts=3, min_delay=0.05, max_delay=0.05, jitter=0),
        tracer=OpenTelemetryTracer("orders", tracer_provider=provider),
    )
    async with pipeline:  # started here; drained when the block ends
        await orders.wait_idle(10)

    spans = sorted(exporter.get_finished_spans(), key=lambda s: s.start_time or 0)
    for span in spans:
        print(describe(span, {s.context.span_id: s for s in spans if s.context}))


def describe(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> str:
    """One line per span: what it was, its trace, and its parent or links."""
    attributes = span.attributes or {}
    if span.name != "orders process":
        count = attributes["messaging.batch.message_count"]
        return f"{span.name}: {count} messages, linked to {len(span.links)} message spans"
    line = f"message {attributes['messaging.message.id']} attempt {attributes['broadway.attempt']}"
    line += f": {attributes['broadway.outcome']} {attributes.get('broadway.decision', '')}"
    assert span.context is not None
    parent = by_id.get(span.parent.span_id) if span.parent else None
    if parent is None:
        origin = "the upstream request"
    else:
        origin = f"attempt {(parent.attributes or {})['broadway.attempt']}"
    return f"{line.rstrip()}; trace {span.context.trace_id:032x}, child of {origin}"


if __name__ == "__main__":
    asyncio.run(main())
