"""What the real-broker tracing tests share: an in-memory exporter and span look-ups."""

from __future__ import annotations

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from broadway_py import BatchInfo, Handler, Message, PoisonMessageError
from broadway_py.otel import OpenTelemetryTracer

UPSTREAM_TRACE = "0af7651916cd43dd8448eb211c80319c"
UPSTREAM_SPAN = "b7ad6b7169203331"
TRACEPARENT = f"00-{UPSTREAM_TRACE}-{UPSTREAM_SPAN}-01"


class Spans:
    """The spans a pipeline's tracer finished, kept in memory."""

    def __init__(self, pipeline: str) -> None:
        self.exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.tracer = OpenTelemetryTracer(pipeline, tracer_provider=provider)
        self.pipeline = pipeline

    def messages(self) -> list[ReadableSpan]:
        name = f"{self.pipeline} process"
        return [s for s in self.exporter.get_finished_spans() if s.name == name]

    def batches(self) -> list[ReadableSpan]:
        prefix = f"{self.pipeline} batch "
        return [s for s in self.exporter.get_finished_spans() if s.name.startswith(prefix)]

    def by_attempt(self, message_id: str) -> list[ReadableSpan]:
        """The spans of one message, by attempt."""
        spans = [s for s in self.messages() if s.attributes["messaging.message.id"] == message_id]
        return sorted(spans, key=lambda s: int(s.attributes["broadway.attempt"]))


def trace_id(span: ReadableSpan) -> str:
    assert span.context is not None
    return f"{span.context.trace_id:032x}"


def span_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return span.context.span_id


def traceparent_of(span: ReadableSpan) -> str:
    return f"00-{trace_id(span)}-{span_id(span):016x}-01"


class Orders(Handler):
    """The broker tests' handler: ``flaky`` fails its first attempt, ``poison`` always;
    the rest go to the ``db`` batcher."""

    def handle_message(self, message: Message) -> Message:
        if message.data == b"flaky" and message.attempt == 1:
            raise TimeoutError("try again")
        if message.data == b"poison":
            raise PoisonMessageError("never")
        return message.put_batcher("db")

    def handle_batch(self, batcher: str, messages: list[Message], info: BatchInfo) -> list[Message]:
        return messages
