"""OpenTelemetry tracing on the in-memory broker: spans, parents, links, copies, off."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from broadway_py import (
    BatcherOptions,
    BatchInfo,
    Handler,
    Message,
    NoopAcknowledger,
    Pipeline,
    ProducerOptions,
    RetryPolicy,
    ShutdownOptions,
)
from broadway_py.config import load_pipeline
from broadway_py.config.problems import ConfigFileError
from broadway_py.connectors.memory import MemoryBroker, MemoryProducer, MemoryQueue
from broadway_py.otel import OpenTelemetryTracer, carrier, context_of

UPSTREAM_TRACE = "0af7651916cd43dd8448eb211c80319c"
UPSTREAM_SPAN = "b7ad6b7169203331"
TRACEPARENT = f"00-{UPSTREAM_TRACE}-{UPSTREAM_SPAN}-01"
FIELDS = ("traceparent", "tracestate")
NO_WAIT = RetryPolicy(max_attempts=3, min_delay=0, max_delay=0, jitter=0)


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


def tracer(exporter: InMemorySpanExporter, **kwargs: Any) -> OpenTelemetryTracer:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return OpenTelemetryTracer("orders", tracer_provider=provider, **kwargs)


async def run(pipeline: Pipeline, queue: MemoryQueue) -> None:
    async with pipeline:
        await queue.wait_idle(10)


def message_spans(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.name == "orders process"]


def hex_trace(span: ReadableSpan) -> str:
    assert span.context is not None
    return f"{span.context.trace_id:032x}"


async def test_a_message_span_is_a_child_of_the_context_the_message_came_with(
    exporter: InMemorySpanExporter,
) -> None:
    queue = MemoryBroker().queue("in")
    queue.push(b"a", {"headers": {"traceparent": TRACEPARENT}})
    queue.push(b"b")
    pipeline = Pipeline(
        "orders",
        lambda m: m,
        ProducerOptions(MemoryProducer.factory(queue)),
        tracer=tracer(exporter),
    )
    await run(pipeline, queue)
    spans = {s.attributes["messaging.message.id"]: s for s in message_spans(exporter)}
    assert sorted(spans) == ["1", "2"]
    child = spans["1"]
    assert hex_trace(child) == UPSTREAM_TRACE
    assert child.parent is not None
    assert f"{child.parent.span_id:016x}" == UPSTREAM_SPAN
    assert spans["2"].parent is None  # no context carried: a root
    assert hex_trace(spans["2"]) != UPSTREAM_TRACE
    attributes = child.attributes
    assert attributes["broadway.outcome"] == "ok"
    assert attributes["messaging.system"] == "memory"
    assert attributes["messaging.destination.name"] == "in"
    assert attributes["broadway.attempt"] == 1
    assert "broadway.decision" not in attributes


async def test_a_retried_attempt_descends_from_the_failed_one(
    exporter: InMemorySpanExporter,
) -> None:
    def flaky(message: Message) -> Message:
        if message.attempt == 1:
            raise TimeoutError("try again")
        return message

    queue = MemoryBroker().queue("in")
    queue.push(b"x", {"headers": {"traceparent": TRACEPARENT}})
    pipeline = Pipeline(
        "orders",
        flaky,
        ProducerOptions(MemoryProducer.factory(queue)),
        retry=NO_WAIT,
        tracer=tracer(exporter),
    )
    await run(pipeline, queue)
    first, second = sorted(message_spans(exporter), key=lambda s: s.attributes["broadway.attempt"])
    assert first.attributes["broadway.outcome"] == "failed"
    assert first.attributes["broadway.decision"] == "retry"
    assert first.attributes["broadway.retry_delay"] == 0.0
    assert first.status.status_code is StatusCode.ERROR
    assert [e.name for e in first.events] == ["exception"]
    assert second.attributes["broadway.outcome"] == "ok"
    assert {hex_trace(first), hex_trace(second)} == {UPSTREAM_TRACE}
    assert first.context is not None
    assert second.parent is not None
    assert second.parent.span_id == first.context.span_id
    assert queue.stats.acked == 1


async def test_a_dead_letter_carries_the_context_of_its_last_attempt(
    exporter: InMemorySpanExporter,
) -> None:
    def poison(message: Message) -> Message:
        raise ValueError("never")

    queue = MemoryBroker().queue("in")
    queue.push(b"x", {"headers": {"traceparent": TRACEPARENT, "other": "kept"}})
    pipeline = Pipeline(
        "orders",
        poison,
        ProducerOptions(MemoryProducer.factory(queue)),
        retry=RetryPolicy(max_attempts=1),
        tracer=tracer(exporter),
    )
    await run(pipeline, queue)
    (span,) = message_spans(exporter)
    assert span.attributes["broadway.decision"] == "dead_letter"
    (letter,) = queue.dead_letters
    headers = letter.metadata["headers"]
    assert span.context is not None
    assert headers["traceparent"] == f"00-{UPSTREAM_TRACE}-{span.context.span_id:016x}-01"
    assert headers["other"] == "kept"


class Batching(Handler):
    def handle_message(self, message: Message) -> Message:
        return message.put_batcher("db")

    def handle_batch(self, batcher: str, messages: list[Message], info: BatchInfo) -> list[Message]:
        messages[0].failed("first of its batch")
        return messages


async def test_a_batch_span_links_to_the_spans_of_its_messages(
    exporter: InMemorySpanExporter,
) -> None:
    queue = MemoryBroker().queue("in")
    queue.push_many(range(4))
    pipeline = Pipeline(
        "orders",
        Batching(),
        ProducerOptions(MemoryProducer.factory(queue)),
        batchers=[BatcherOptions("db", batch_size=4, batch_timeout=5)],
        retry=RetryPolicy(max_attempts=1),
        tracer=tracer(exporter, max_links=3),
    )
    await run(pipeline, queue)
    (batch,) = [s for s in exporter.get_finished_spans() if s.name == "orders batch db"]
    spans = message_spans(exporter)
    assert len(spans) == 4
    own = {s.context.span_id for s in spans if s.context is not None}
    linked = {link.context.span_id for link in batch.links}
    assert len(linked) == 3  # max_links
    assert linked <= own
    assert batch.parent is None
    assert batch.attributes["messaging.batch.message_count"] == 4
    assert batch.attributes["broadway.batch.failed"] == 1
    assert batch.status.status_code is StatusCode.ERROR
    outcomes = sorted(str(s.attributes["broadway.outcome"]) for s in spans)
    assert outcomes == ["failed", "ok", "ok", "ok"]


class Stuck(Handler):
    """A batch handler that never returns: the drain deadline cancels it."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()

    def handle_message(self, message: Message) -> Message:
        return message.put_batcher("db")

    async def handle_batch(
        self, batcher: str, messages: list[Message], info: BatchInfo
    ) -> list[Message]:
        self.entered.set()
        await asyncio.Event().wait()
        return messages


async def test_a_batch_span_ends_when_its_batch_processor_is_cancelled(
    exporter: InMemorySpanExporter,
) -> None:
    queue = MemoryBroker().queue("in")
    queue.push_many(range(2))
    handler = Stuck()
    pipeline = Pipeline(
        "orders",
        handler,
        ProducerOptions(MemoryProducer.factory(queue)),
        batchers=[BatcherOptions("db", batch_size=2, batch_timeout=5)],
        shutdown=ShutdownOptions(drain_timeout=0.2),
        tracer=tracer(exporter),
    )
    async with pipeline:
        await asyncio.wait_for(handler.entered.wait(), 10)
    batches = [s for s in exporter.get_finished_spans() if s.name == "orders batch db"]
    assert len(batches) == 1


async def test_a_message_that_fails_before_a_processor_still_gets_its_span(
    exporter: InMemorySpanExporter,
) -> None:
    def transformer(message: Message) -> Message:
        raise ValueError("bad record")

    queue = MemoryBroker().queue("in")
    queue.push(b"x")
    pipeline = Pipeline(
        "orders",
        lambda m: m,
        ProducerOptions(MemoryProducer.factory(queue), transformer=transformer),
        retry=RetryPolicy(max_attempts=1),
        tracer=tracer(exporter),
    )
    await run(pipeline, queue)
    (span,) = message_spans(exporter)
    assert span.attributes["broadway.outcome"] == "failed"
    assert span.attributes["broadway.decision"] == "dead_letter"
    assert "traceparent" in queue.dead_letters[0].metadata["headers"]


async def test_without_a_tracer_a_message_carries_no_trace() -> None:
    seen: list[object] = []

    def handle(message: Message) -> Message:
        seen.append(message.trace)
        raise ValueError("dead")

    queue = MemoryBroker().queue("in")
    queue.push(b"x", {"headers": {"traceparent": TRACEPARENT}})
    pipeline = Pipeline(
        "orders",
        handle,
        ProducerOptions(MemoryProducer.factory(queue)),
        retry=RetryPolicy(max_attempts=1),
    )
    await run(pipeline, queue)
    assert seen == [None]
    assert queue.dead_letters[0].metadata["headers"] == {"traceparent": TRACEPARENT}


def test_the_carrier_of_each_broker() -> None:
    kafka = {
        "headers": [("traceparent", b"old"), ("x", b"1"), ("traceparent", TRACEPARENT.encode())]
    }
    assert carrier(kafka, FIELDS) == {"traceparent": TRACEPARENT}
    amqp = {"headers": {"traceparent": TRACEPARENT.encode(), "tracestate": "a=1", "n": 3}}
    assert carrier(amqp, FIELDS) == {"traceparent": TRACEPARENT, "tracestate": "a=1"}
    sqs = {
        "message_attributes": {
            "traceparent": {"DataType": "String", "StringValue": TRACEPARENT},
            "tracestate": {"DataType": "Binary", "BinaryValue": b"\x00"},
        }
    }
    assert carrier(sqs, FIELDS) == {"traceparent": TRACEPARENT}
    assert carrier({"headers": None}, FIELDS) == {}


async def test_a_handler_span_started_in_context_of_is_a_child_of_the_message_span(
    exporter: InMemorySpanExporter,
) -> None:
    traced = tracer(exporter)
    own = traced._tracer

    def handle(message: Message) -> Message:
        with own.start_as_current_span("save", context=context_of(message)):
            return message

    queue = MemoryBroker().queue("in")
    queue.push(b"x")
    pipeline = Pipeline(
        "orders", handle, ProducerOptions(MemoryProducer.factory(queue)), tracer=traced
    )
    await run(pipeline, queue)
    (save,) = [s for s in exporter.get_finished_spans() if s.name == "save"]
    (span,) = message_spans(exporter)
    assert span.context is not None
    assert save.parent is not None
    assert save.parent.span_id == span.context.span_id


def test_context_of_an_untraced_message_is_none() -> None:
    assert context_of(Message(b"x", NoopAcknowledger())) is None


def test_a_pipeline_file_turns_tracing_on(tmp_path: Path) -> None:
    path = tmp_path / "pipeline.yaml"
    text = "name: traced\nhandler: tests.unit.test_otel:echo\nproducer: {memory: {queue: q}}\n"
    path.write_text(text + "tracing: {enabled: true}\n")
    _, pipeline = load_pipeline(path, [], env={})
    assert isinstance(pipeline.tracer, OpenTelemetryTracer)
    assert pipeline.tracer.pipeline == "traced"
    path.write_text(text)
    _, untraced = load_pipeline(path, [], env={})
    assert untraced.tracer is None
    path.write_text(text + "tracing: {enabled: true, exporter: zipkin}\n")
    with pytest.raises(ConfigFileError, match="tracing: unknown key 'exporter'"):
        load_pipeline(path, [], env={})


def test_tracing_without_the_extra_is_a_config_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "broadway_py.otel", None)  # import raises ImportError
    path = tmp_path / "pipeline.yaml"
    path.write_text(
        "name: traced\nhandler: tests.unit.test_otel:echo\nproducer: {memory: {queue: q}}\n"
        "tracing: {enabled: true}\n"
    )
    with pytest.raises(ConfigFileError, match="tracing needs the otel extra"):
        load_pipeline(path, [], env={})


def echo(message: Message) -> Message:
    return message


INSTALL = """
import logging, sys
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from broadway_py.otel import install_default_provider

logging.basicConfig(stream=sys.stdout, format="%(levelname)s %(message)s")
first, second = install_default_provider(), install_default_provider()
provider = trace.get_tracer_provider()
assert isinstance(provider, TracerProvider), provider
(processor,) = provider._active_span_processor._span_processors
assert isinstance(processor, BatchSpanProcessor)
print(first, second, type(processor._batch_processor._exporter).__name__)
"""


@pytest.mark.parametrize(
    ("environment", "printed"),
    [
        ({}, "True False ConsoleSpanExporter"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}, "True False "),
    ],
)
def test_run_installs_an_sdk_provider_once(environment: dict[str, str], printed: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")} | environment
    done = subprocess.run(
        [sys.executable, "-c", INSTALL], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert printed in done.stdout
    if environment:  # OTLP: its exporter, or a warning that it is not installed
        otlp = _installed("opentelemetry.exporter.otlp.proto.http.trace_exporter")
        expected = "OTLPSpanExporter" if otlp else "opentelemetry-exporter-otlp-proto-http"
        assert expected in done.stdout


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False
