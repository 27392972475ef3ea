"""OpenTelemetry tracing of a pipeline (the ``otel`` extra): the one module that imports it.

``Pipeline(..., tracer=OpenTelemetryTracer("orders"))``, or a pipeline file's
``tracing: {enabled: true}``, traces each message and batch
(:mod:`broadway_py.tracer` says where the pipeline calls it):

- a **message span** (``<pipeline> process``, kind consumer) per delivery,
  from when a processor takes the message until it is acknowledged. Its
  parent is the context the message carries at its broker (W3C
  ``traceparent`` / ``tracestate``, read with the global propagator): Kafka
  record headers, AMQP headers, SQS message attributes, or the in-memory
  broker's ``metadata["headers"]``. Its attributes: ``messaging.system``,
  ``messaging.destination.name``, ``messaging.message.id``, ``broadway.pipeline``,
  ``broadway.attempt`` and, at its end, ``broadway.outcome`` (``ok`` or
  ``failed``), and for a failed message ``broadway.decision`` (``retry``,
  ``dead_letter``, ``discard``) and ``broadway.retry_delay`` (seconds); a
  failed message's span has the status ERROR and its exception recorded.
- a **batch span** (``<pipeline> batch <batcher>``), around ``handle_batch``,
  a root of its own trace linked to the span of each of its messages (the
  first ``max_links``), with ``broadway.batcher``, ``broadway.batch.trigger``,
  ``messaging.batch.message_count`` and ``broadway.batch.failed``.
- a retry or dead-letter **copy** carries the context of the failed attempt's
  span (its ``traceparent`` replaces the one the message came with), so the
  next attempt's span is a child of the attempt before it, and every attempt
  stays in the trace the message started in. A redelivery that is no copy
  (an SQS visibility change, a RabbitMQ requeue with no delay, the in-memory
  broker's re-enqueue) carries what the broker kept: for SQS and RabbitMQ the
  original context, so each attempt is a child of the upstream span.

Spans go to the global tracer provider unless one is given. ``broadway-py run``
installs an SDK provider when tracing is enabled and none was set
(:func:`install_default_provider`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode, Tracer, TracerProvider

from broadway_py import __version__
from broadway_py.acknowledger import AckedOnReceive
from broadway_py.message import BatchInfo, Message
from broadway_py.tracer import BatchTrace

log = logging.getLogger("broadway_py.otel")

MAX_LINKS = 128
"""The most messages a batch span links to, by default."""
_EMPTY = otel_context.Context()


class MessageSpan:
    """A message's open span: what ``message.trace`` holds while the pipeline traces it."""

    __slots__ = ("_headers", "ended", "span")

    def __init__(self, span: Span) -> None:
        self.span = span
        self.ended = False
        self._headers: dict[str, str] | None = None

    @property
    def headers(self) -> Mapping[str, str]:
        """This span's context as headers (``traceparent``, ...), to write into a copy."""
        headers = self._headers
        if headers is None:
            headers = self._headers = {}
            propagate.inject(headers, context=trace.set_span_in_context(self.span, _EMPTY))
        return headers


class BatchSpan:
    __slots__ = ("span",)

    def __init__(self, span: Span) -> None:
        self.span = span


class OpenTelemetryTracer:
    """A :class:`~broadway_py.tracer.MessageTracer` that makes OpenTelemetry spans."""

    def __init__(
        self,
        pipeline: str,
        *,
        tracer_provider: TracerProvider | None = None,
        max_links: int = MAX_LINKS,
    ) -> None:
        self.pipeline = pipeline
        self.max_links = max_links
        self._tracer: Tracer = trace.get_tracer(
            "broadway_py", __version__, tracer_provider=tracer_provider
        )
        self._name = f"{pipeline} process"
        self._systems: dict[type, str] = {}

    def begin(self, messages: Iterable[Message]) -> None:
        fields = propagate.get_global_textmap().fields
        start = self._tracer.start_span
        for message in messages:
            if message.trace is not None:
                continue
            metadata = message.metadata
            parent = propagate.extract(carrier(metadata, fields), context=_EMPTY)
            attributes: dict[str, Any] = {
                "messaging.system": self._system(message),
                "messaging.operation.type": "process",
                "broadway.pipeline": self.pipeline,
                "broadway.attempt": message.attempt,
            }
            destination = metadata.get("topic") or metadata.get("queue")
            if isinstance(destination, str):
                attributes["messaging.destination.name"] = destination
            if message.id is not None:
                attributes["messaging.message.id"] = message.id
            span = start(self._name, parent, SpanKind.CONSUMER, attributes)
            message.trace = MessageSpan(span)

    def end(self, messages: Iterable[Message]) -> None:
        for message in messages:
            opened = message.trace
            if not isinstance(opened, MessageSpan) or opened.ended:
                continue
            opened.ended = True
            span = opened.span
            status = message.status
            if status.ok:
                span.set_attribute("broadway.outcome", "ok")
            else:
                span.set_attribute("broadway.outcome", "failed")
                decision = message.decision
                if decision is not None:
                    span.set_attribute("broadway.decision", decision.kind)
                    if decision.kind == "retry":
                        span.set_attribute("broadway.retry_delay", decision.delay)
                if status.exception is not None:
                    span.record_exception(status.exception)
                span.set_status(Status(StatusCode.ERROR, status.reason))
            span.end()

    def begin_batch(self, info: BatchInfo, messages: Sequence[Message]) -> BatchSpan:
        links = [
            Link(m.trace.span.get_span_context())
            for m in messages[: self.max_links]
            if isinstance(m.trace, MessageSpan)
        ]
        span = self._tracer.start_span(
            f"{self.pipeline} batch {info.batcher}",
            _EMPTY,
            SpanKind.INTERNAL,
            {
                "broadway.pipeline": self.pipeline,
                "broadway.batcher": info.batcher,
                "broadway.batch.trigger": info.trigger,
                "messaging.batch.message_count": info.size,
            },
            links,
        )
        return BatchSpan(span)

    def end_batch(self, opened: BatchTrace, messages: Sequence[Message]) -> None:
        if not isinstance(opened, BatchSpan):
            return
        failed = sum(1 for m in messages if not m.status.ok)
        span = opened.span
        span.set_attribute("broadway.batch.failed", failed)
        if failed:
            span.set_status(Status(StatusCode.ERROR, f"{failed} of {len(messages)} failed"))
        span.end()

    def _system(self, message: Message) -> str:
        acknowledger = message.acknowledger
        if isinstance(acknowledger, AckedOnReceive):  # acknowledge: on_receive
            acknowledger = acknowledger.replaced
        kind = type(acknowledger)
        system = self._systems.get(kind)
        if system is None:
            system = self._systems[kind] = _system_of(kind)
        return system


def context_of(message: Message) -> otel_context.Context | None:
    """The context of ``message``'s span, to start a handler's own spans under it.

    None when the message is not traced (the pipeline has no tracer).
    """
    opened = message.trace
    if not isinstance(opened, MessageSpan):
        return None
    return trace.set_span_in_context(opened.span, _EMPTY)


def _system_of(kind: type) -> str:
    """``kafka``, ``rabbitmq``, ``aws_sqs``, ``memory``: from the acknowledger's package."""
    parts = kind.__module__.split(".")
    if len(parts) > 2 and parts[:2] == ["broadway_py", "connectors"]:
        return {"sqs": "aws_sqs"}.get(parts[2], parts[2])
    return kind.__module__


def carrier(metadata: Mapping[str, Any], fields: Iterable[str]) -> dict[str, str]:
    """The propagation ``fields`` a message carries, as text, from its broker's metadata.

    ``metadata["headers"]``: a mapping (AMQP headers, the in-memory broker) or
    a sequence of ``(name, bytes)`` pairs (Kafka record headers, the last one
    of a name wins); ``metadata["message_attributes"]``: SQS message
    attributes (their ``StringValue``).
    """
    found: dict[str, str] = {}
    headers = metadata.get("headers")
    if isinstance(headers, Mapping):
        for name in fields:
            text = _text(headers.get(name))
            if text is not None:
                found[name] = text
    elif headers:
        wanted = set(fields)
        for pair in headers:
            if isinstance(pair, tuple) and len(pair) == 2 and pair[0] in wanted:
                text = _text(pair[1])
                if text is not None:
                    found[pair[0]] = text
    attributes = metadata.get("message_attributes")
    if isinstance(attributes, Mapping):
        for name in fields:
            value = attributes.get(name)
            if isinstance(value, Mapping):
                text = _text(value.get("StringValue"))
                if text is not None:
                    found.setdefault(name, text)
    return found


def _text(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    return None


def install_default_provider() -> bool:
    """Install an SDK tracer provider if none was set; True if this installed one.

    Spans are exported in batches: over OTLP when ``OTEL_EXPORTER_OTLP_ENDPOINT``
    (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) is set and the
    ``opentelemetry-exporter-otlp-proto-http`` package is installed, else to
    standard output (one JSON object per span). A provider the process set up
    itself (with ``trace.set_tracer_provider``) is left as it is.
    """
    if not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        return False
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SpanExporter,
    )

    exporter: SpanExporter = ConsoleSpanExporter()
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    ):
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[import-not-found,unused-ignore]
                OTLPSpanExporter,
            )
        except ImportError:
            log.warning(
                "OTEL_EXPORTER_OTLP_ENDPOINT is set but opentelemetry-exporter-otlp-proto-http "
                "is not installed: spans go to standard output"
            )
        else:
            exporter = OTLPSpanExporter()
    provider = SdkTracerProvider(resource=Resource.create())
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return True
