"""Several named producers in one pipeline: the Python API, metrics, /status and readiness.

Two in-process memory queues stand for two brokers (the contract suite,
tests/contract/test_two_producers.py, runs the same checks on real ones).
"""

from __future__ import annotations

import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest

from broadway_py import (
    ConfigurationError,
    Decode,
    Message,
    Pipeline,
    ProcessorOptions,
    ProducerOptions,
    RetryPolicy,
)
from broadway_py.config import load_pipeline
from broadway_py.connectors.memory import DEFAULT_BROKER, MemoryBroker, MemoryProducer, MemoryQueue
from broadway_py.metrics.exporter import Exporter
from broadway_py.metrics.status import build_status
from broadway_py.pipeline import MAX_PRODUCERS
from broadway_py.telemetry import ProducerConnected
from tests.support import Recorder, wait_until


def _queues() -> tuple[MemoryQueue, MemoryQueue]:
    broker = MemoryBroker()
    return broker.queue("orders"), broker.queue("audit")


def _two(orders: MemoryQueue, audit: MemoryQueue, **kwargs: Any) -> dict[str, ProducerOptions]:
    return {
        "orders": ProducerOptions(MemoryProducer.factory(orders), decode=Decode("json"), **kwargs),
        "audit": ProducerOptions(MemoryProducer.factory(audit), decode=Decode("text")),
    }


class Kinds(Recorder):
    """Records the type of each message's data; fails what says "bad"."""

    def __init__(self) -> None:
        super().__init__(fail=lambda m: "bad" in str(m.data))
        self.kinds: dict[str, str] = {}

    async def handle_message(self, message: Message) -> Message:
        self.kinds[str(message.data)] = type(message.data).__name__
        return await super().handle_message(message)


async def test_each_producer_decodes_and_acks_its_own_messages() -> None:
    orders, audit = _queues()
    orders.push_many([b'{"order": 1}', b'{"order": 2}', b'{"bad": 3}'])
    audit.push_many([b"audit-1", b"audit-bad"])
    handler = Kinds()
    pipeline = Pipeline(
        "two",
        handler,
        producers=_two(orders, audit, concurrency=2),
        processors=ProcessorOptions(concurrency=2, max_demand=5),
        retry=RetryPolicy(max_attempts=1),
    )
    async with pipeline:
        await wait_until(lambda: len(handler.seen) == 5, 5, "every message handled")
        await wait_until(
            lambda: len(orders.dead_letters) + len(audit.dead_letters) == 2, 5, "dead letters"
        )
        await wait_until(
            lambda: orders.unacked + audit.unacked == 0 and not len(pipeline.in_flight),
            5,
            "all acked",
        )
    # Each producer's own decode step: json into dicts, text into str.
    assert handler.kinds == {
        "{'order': 1}": "dict",
        "{'order': 2}": "dict",
        "{'bad': 3}": "dict",
        "audit-1": "str",
        "audit-bad": "str",
    }
    # Each dead letter in its own queue.
    assert [d.data for d in orders.dead_letters] == [b'{"bad": 3}']
    assert [d.data for d in audit.dead_letters] == [b"audit-bad"]
    assert orders.ready == audit.ready == 0
    assert pipeline.producer_names == ["orders", "orders", "audit"]
    assert pipeline.state == "stopped"


async def test_test_message_meets_the_named_producer_s_transform() -> None:
    orders, audit = _queues()
    handler = Kinds()
    pipeline = Pipeline("two", handler, producers=_two(orders, audit))
    async with pipeline:
        first = await pipeline.test_message(b'{"order": 9}')
        text = await pipeline.test_message(b'{"order": 9}', producer="audit")
        with pytest.raises(ConfigurationError, match="no producer named 'nope'"):
            await pipeline.test_message(b"x", producer="nope")
    assert first.data == {"order": 9}
    assert text.data == '{"order": 9}'


async def test_metrics_status_and_readiness_per_producer() -> None:
    orders, audit = _queues()
    orders.push_many([b"{}"] * 4)
    audit.push_many([b"a"] * 3)
    handler = Recorder()
    pipeline = Pipeline("per-producer", handler, producers=_two(orders, audit))
    exporter = Exporter(pipeline)
    try:
        async with pipeline:
            await wait_until(lambda: len(handler.seen) == 7, 5, "every message handled")
            assert exporter.readiness(60).ready
            # The audit producer's instance (index 1) reports a lost connection.
            pipeline.telemetry.for_producer(1).emit(ProducerConnected(False, "connection cut"))
            readiness = exporter.readiness(60)
            assert not readiness.ready
            assert any("connection cut" in reason for reason in readiness.reasons)
            text = exporter.render()[0].decode()
            status = build_status(exporter, 60, admin=False)
            pipeline.telemetry.for_producer(1).emit(ProducerConnected(True))
            assert exporter.readiness(60).ready
    finally:
        exporter.close()
    received = 'broadway_producer_messages_received_total{pipeline="per-producer",producer='
    assert f'{received}"orders"}} 4.0' in text
    assert f'{received}"audit"}} 3.0' in text
    disconnected = 'broadway_producer_disconnected{pipeline="per-producer",producer='
    assert f'{disconnected}"audit"}} 1.0' in text
    assert f'{disconnected}"orders"}} 0.0' in text
    assert status["producer_counters"]["orders"]["received"] == 4
    assert status["producer_counters"]["audit"] == {
        "received": 3,
        "acks_dropped": 0,
        "disconnected": 1,
        "instances": 1,
    }
    assert list(status["producers"]) == ["orders", "audit"]
    assert status["producer_instances"] == ["orders", "audit"]
    assert set(status["stages"]) >= {"producer_0", "producer_1"}


async def test_one_producer_is_named_default_and_has_no_per_producer_series() -> None:
    orders, _ = _queues()
    pipeline = Pipeline("one", Recorder(), ProducerOptions(MemoryProducer.factory(orders)))
    exporter = Exporter(pipeline)
    try:
        text = exporter.render()[0].decode()
    finally:
        exporter.close()
    assert "broadway_producer_messages_received" not in text
    assert pipeline.producer_names == ["default"]
    assert list(pipeline.describe()["producers"]) == ["default"]


def _options() -> ProducerOptions:
    return ProducerOptions(MemoryProducer.factory(MemoryBroker().queue("q")))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "either producer= .* or producers="),
        ({"producer": "both"}, "either producer= .* or producers="),
        ({"producers": {}}, f"1 to {MAX_PRODUCERS} named producers, not 0"),
        (
            {"producers": {f"p{i}": "options" for i in range(MAX_PRODUCERS + 1)}},
            f"1 to {MAX_PRODUCERS} named producers, not {MAX_PRODUCERS + 1}",
        ),
        ({"producers": {"Orders": "options"}}, "producer name 'Orders'"),
        ({"producers": {"x" * 41: "options"}}, "producer name 'x{41}'"),
        ({"producers": {"a b": "options"}}, "producer name 'a b'"),
        ({"producers": {"ok": "not options"}}, "must be ProducerOptions, not str"),
    ],
)
def test_producer_names_and_counts_are_checked(kwargs: dict[str, Any], message: str) -> None:
    made = {
        key: (
            _options()
            if value == "both"
            else {n: _options() if v == "options" else v for n, v in value.items()}
        )
        for key, value in kwargs.items()
    }
    if kwargs.get("producer") == "both":
        made["producers"] = {"a": _options()}
    with pytest.raises(ConfigurationError, match=message):
        Pipeline("checked", Recorder(), **made)


async def test_a_pipeline_file_with_producers_runs_each_to_its_own_queue(tmp_path: Path) -> None:
    suffix = uuid.uuid4().hex[:8]
    orders, audit = f"orders-{suffix}", f"audit-{suffix}"
    path = tmp_path / "two.yaml"
    path.write_text(
        textwrap.dedent(
            f"""
            name: two-from-yaml
            handler: tests.integration.test_producers:fail_bad
            producers:
              orders:
                memory: {{queue: {orders}}}
                decode: json
              audit:
                memory: {{queue: {audit}}}
                concurrency: 2
            retry:
              max_attempts: 1
            """
        )
    )
    _, pipeline = load_pipeline(path, env={})
    DEFAULT_BROKER.queue(orders).push_many([b'{"n": 1}', b'{"bad": 2}'])
    DEFAULT_BROKER.queue(audit).push_many([b"a1", b"bad-a2", b"a3"])
    async with pipeline:
        await wait_until(
            lambda: (
                len(DEFAULT_BROKER.queue(orders).dead_letters) == 1
                and len(DEFAULT_BROKER.queue(audit).dead_letters) == 1
                and not len(pipeline.in_flight)
            ),
            5,
            "every message settled",
        )
    assert [d.data for d in DEFAULT_BROKER.queue(orders).dead_letters] == [b'{"bad": 2}']
    assert [d.data for d in DEFAULT_BROKER.queue(audit).dead_letters] == [b"bad-a2"]
    assert pipeline.producer_names == ["orders", "audit", "audit"]
    assert pipeline.processor_options.partition_by is None  # memory has no ordering key


def fail_bad(message: Message) -> Message:
    """The handler of the file above: fails what says "bad"; json bodies are dicts."""
    if "bad" in (message.data if isinstance(message.data, dict) else message.data.decode()):
        raise ValueError("bad")
    return message
