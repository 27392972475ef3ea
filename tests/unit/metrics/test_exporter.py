"""The exporter, fed by real pipelines on the memory broker."""

from __future__ import annotations

import asyncio

from prometheus_client.parser import text_string_to_metric_families

import broadway_py
from broadway_py import (
    BatcherOptions,
    Message,
    Pipeline,
    PoisonMessageError,
    ProcessorOptions,
    ProducerOptions,
    RateLimitOptions,
    RetryPolicy,
    SupervisorOptions,
)
from broadway_py.connectors.memory import MemoryBroker, MemoryProducer, MemoryQueue
from broadway_py.metrics import Exporter
from broadway_py.telemetry import AckFailed, AcksDropped
from tests.support import CrashingProducer, Recorder, wait_until

NO_WAIT = RetryPolicy(max_attempts=3, min_delay=0, max_delay=0, jitter=0)
NAMES = {
    "broadway_build_info",
    "broadway_pipeline_state",
    "broadway_messages_received",
    "broadway_messages_processed",
    "broadway_messages_acked",
    "broadway_messages_in_flight",
    "broadway_oldest_in_flight_age_seconds",
    "broadway_producer_oldest_in_flight_age_seconds",
    "broadway_message_processing_seconds",
    "broadway_batch_processing_seconds",
    "broadway_batch_size_messages",
    "broadway_rate_limiter_wait_seconds",
    "broadway_handler_calls_abandoned",
    "broadway_stage_restarts",
    "broadway_producer_connected",
    "broadway_backlog_messages",
    "broadway_partition_lag_messages",
    "broadway_ack_failures",
    "broadway_acks_dropped",
    "broadway_last_progress_timestamp_seconds",
}


def new_queue() -> MemoryQueue:
    return MemoryBroker().queue("q")


def make(name: str, handler: object, queue: MemoryQueue, **kwargs: object) -> Pipeline:
    kwargs.setdefault("retry", NO_WAIT)
    return Pipeline(name, handler, ProducerOptions(MemoryProducer.factory(queue)), **kwargs)  # type: ignore[arg-type]


def value(exporter: Exporter, name: str, **labels: str) -> float | None:
    labels = {"pipeline": exporter.pipeline.name, **labels}
    return exporter.registry.get_sample_value(name, labels)


def acked(exporter: Exporter) -> dict[str, float | None]:
    outcomes = ("successful", "retried", "dead_lettered", "discarded")
    return {o: value(exporter, "broadway_messages_acked_total", outcome=o) for o in outcomes}


async def test_counts_match_the_messages_exactly() -> None:
    # 0..499: every 25th is poison (dead-lettered at once); every other 10th fails once.
    def handle(message: Message) -> Message:
        if message.data % 25 == 0:
            raise PoisonMessageError("poison")
        if message.data % 10 == 0 and message.attempt == 1:
            raise RuntimeError("once")
        return message

    queue = new_queue()
    queue.push_many(range(500))
    pipeline = make("counts", handle, queue, processors=ProcessorOptions(concurrency=3))
    exporter = Exporter(pipeline)
    async with pipeline:
        await queue.wait_idle(10)
        await wait_until(lambda: sum(filter(None, acked(exporter).values())) == 540, 10, "acks")
    assert acked(exporter) == {
        "successful": 480.0,
        "retried": 40.0,
        "dead_lettered": 20.0,
        "discarded": 0.0,
    }
    assert value(exporter, "broadway_messages_received_total") == 540
    assert value(exporter, "broadway_messages_processed_total", outcome="ok") == 480
    assert value(exporter, "broadway_messages_processed_total", outcome="failed") == 60
    assert value(exporter, "broadway_message_processing_seconds_count") == 540
    assert value(exporter, "broadway_message_processing_seconds_bucket", le="+Inf") == 540
    assert value(exporter, "broadway_messages_in_flight") == 0
    assert (queue.stats.acked, queue.stats.retried, queue.stats.dead_lettered) == (480, 40, 20)


async def test_discarded_and_two_pipelines_in_one_process_count_apart() -> None:
    queue_a, queue_b = new_queue(), new_queue()
    queue_a.push_many(range(30))
    queue_b.push_many(range(7))
    drop = RetryPolicy(max_attempts=1, dead_letter=False)
    a = make("a", Recorder(fail=lambda m: m.data < 10), queue_a, retry=drop)
    b = make("b", Recorder(), queue_b)
    exporter_a, exporter_b = Exporter(a), Exporter(b)
    async with a, b:
        await queue_a.wait_idle(10)
        await queue_b.wait_idle(10)
        await wait_until(
            lambda: value(exporter_a, "broadway_messages_acked_total", outcome="discarded") == 10,
            10,
            "discards",
        )
        await wait_until(
            lambda: value(exporter_b, "broadway_messages_acked_total", outcome="successful") == 7,
            10,
            "acks of b",
        )
    assert acked(exporter_a) == {
        "successful": 20.0,
        "retried": 0.0,
        "dead_lettered": 0.0,
        "discarded": 10.0,
    }
    assert value(exporter_b, "broadway_messages_received_total") == 7
    assert value(exporter_a, "broadway_messages_received_total") == 30


async def test_batch_histograms_observe_every_batch() -> None:
    queue = new_queue()
    queue.push_many(range(95))
    recorder = Recorder(batcher="db")
    batchers = [BatcherOptions("db", batch_size=10, batch_timeout=0.05), BatcherOptions("idle")]
    pipeline = make("batches", recorder, queue, batchers=batchers)
    exporter = Exporter(pipeline)
    assert value(exporter, "broadway_batch_size_messages_count", batcher="idle") == 0
    async with pipeline:
        await queue.wait_idle(10)
    batches = len(recorder.batches)
    assert batches >= 10
    assert value(exporter, "broadway_batch_size_messages_sum", batcher="db") == 95
    assert value(exporter, "broadway_batch_size_messages_count", batcher="db") == batches
    assert value(exporter, "broadway_batch_processing_seconds_count", batcher="db") == batches
    full = sum(1 for b in recorder.batches if len(b) == 10)
    small = value(exporter, "broadway_batch_size_messages_bucket", batcher="db", le="5.0")
    assert small == sum(1 for b in recorder.batches if len(b) <= 5)
    assert value(exporter, "broadway_batch_size_messages_bucket", batcher="db", le="10.0") == (
        batches
    )
    assert full >= 1
    assert value(exporter, "broadway_batch_size_messages_count", batcher="idle") == 0


async def test_a_producer_crash_counts_one_restart() -> None:
    queue = new_queue()
    queue.push_many(range(200))
    producer = CrashingProducer(MemoryProducer(queue), crash_after=50)
    pipeline = Pipeline(
        "crash",
        Recorder(),
        ProducerOptions(producer),
        processors=ProcessorOptions(concurrency=2, max_demand=10),
        retry=NO_WAIT,
    )
    exporter = Exporter(pipeline)
    async with pipeline:
        await queue.wait_idle(10)
        await wait_until(lambda: pipeline.restarts == 1, 10, "the restart")
    assert value(exporter, "broadway_stage_restarts_total", stage="producer") == 1
    assert value(exporter, "broadway_stage_restarts_total", stage="processor") == 0
    assert value(exporter, "broadway_stage_restarts_total", stage="batcher") == 0
    assert exporter.stats.stages["producer_0"]["restarts"] == 1
    assert value(exporter, "broadway_messages_acked_total", outcome="successful") == 200


async def test_state_connection_and_in_flight_are_read_at_scrape_time() -> None:
    gate = asyncio.Event()

    async def handle(message: Message) -> Message:
        await gate.wait()
        return message

    queue = new_queue()
    pipeline = make("live", handle, queue, processors=ProcessorOptions(concurrency=1, max_demand=5))
    exporter = Exporter(pipeline)
    assert value(exporter, "broadway_pipeline_state", state="starting") == 1
    assert value(exporter, "broadway_producer_connected") == 0
    await pipeline.start()
    try:
        assert value(exporter, "broadway_pipeline_state", state="running") == 1
        assert value(exporter, "broadway_pipeline_state", state="starting") == 0
        assert value(exporter, "broadway_producer_connected") == 1
        queue.push_many(range(20))
        # The processor holds 5, its buffer 5 and the producer waits to hand over 5 more.
        await wait_until(lambda: value(exporter, "broadway_messages_in_flight") == 15, 10, "15")
        await wait_until(
            lambda: (value(exporter, "broadway_oldest_in_flight_age_seconds") or 0) > 0.02,
            10,
            "an aging message",
        )
        assert value(exporter, "broadway_backlog_messages", source="q") == 5
        assert len(pipeline.in_flight) == 15
        gate.set()
        await queue.wait_idle(10)
        await wait_until(lambda: value(exporter, "broadway_messages_in_flight") == 0, 10, "0")
        assert value(exporter, "broadway_oldest_in_flight_age_seconds") == 0
    finally:
        gate.set()
        await pipeline.stop()
    assert value(exporter, "broadway_pipeline_state", state="stopped") == 1
    assert value(exporter, "broadway_producer_connected") == 0  # closed


async def test_backlog_is_what_the_broker_last_reported() -> None:
    gate = asyncio.Event()

    async def handle(message: Message) -> Message:
        await gate.wait()
        return message

    queue = new_queue()
    queue.push_many(range(300))
    pipeline = make(
        "backlog", handle, queue, processors=ProcessorOptions(concurrency=1, max_demand=10)
    )
    exporter = Exporter(pipeline)
    async with pipeline:
        await wait_until(
            lambda: (value(exporter, "broadway_backlog_messages", source="q") or 0) > 200,
            10,
            "a backlog",
        )
        gate.set()
        await queue.wait_idle(10)
        await wait_until(
            lambda: value(exporter, "broadway_backlog_messages", source="q") == 0, 10, "no backlog"
        )


async def test_rate_limiter_waits_add_up() -> None:
    queue = new_queue()
    queue.push_many(range(30))
    pipeline = make(
        "limited",
        Recorder(),
        queue,
        rate_limit=RateLimitOptions(allowed_messages=10, interval=0.05),
        processors=ProcessorOptions(concurrency=1, max_demand=10),
    )
    exporter = Exporter(pipeline)
    async with pipeline:
        await queue.wait_idle(10)
    assert (value(exporter, "broadway_rate_limiter_wait_seconds_total") or 0) > 0
    assert value(exporter, "broadway_rate_limiter_wait_seconds_total") == (
        exporter.stats.rate_limiter_wait
    )


async def test_connector_reports_reach_the_registry() -> None:
    pipeline = make("reports", Recorder(), new_queue())
    exporter = Exporter(pipeline)
    pipeline.telemetry.emit(AcksDropped(3, "channel closed"))
    pipeline.telemetry.emit(AcksDropped(2, "channel closed"))
    pipeline.telemetry.emit(AckFailed("processor", "ConnectionError()"))
    assert value(exporter, "broadway_acks_dropped_total") == 5
    assert value(exporter, "broadway_ack_failures_total") == 1


async def test_a_failed_pipeline_shows_failed() -> None:
    queue = new_queue()
    queue.push_many(range(50))
    producer = CrashingProducer(MemoryProducer(queue), crash_after=0, crashes=5)
    pipeline = Pipeline(
        "doomed",
        Recorder(),
        ProducerOptions(producer),
        supervisor=SupervisorOptions(max_restarts=1, max_seconds=30),
        retry=NO_WAIT,
    )
    exporter = Exporter(pipeline)
    await pipeline.start()
    await wait_until(lambda: pipeline.state == "failed", 10, "the supervisor to give up")
    await pipeline.stop()
    assert value(exporter, "broadway_pipeline_state", state="failed") == 1
    assert value(exporter, "broadway_stage_restarts_total", stage="producer") == 1
    assert not exporter.health().alive


async def test_build_info_names_and_exposition() -> None:
    pipeline = make("info", Recorder(), new_queue())
    exporter = Exporter(pipeline, process_metrics=False)
    body, content_type = exporter.render()
    assert content_type.startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    assert set(families) == NAMES
    (sample,) = families["broadway_build_info"].samples
    assert sample.labels["version"] == broadway_py.__version__
    assert sample.labels["pipeline"] == "info"
    assert sample.value == 1
    for family in families.values():
        for s in family.samples:
            assert s.labels["pipeline"] == "info", s
    assert "process_resident_memory_bytes" in Exporter(pipeline).render()[0].decode()
    _, openmetrics = exporter.render("application/openmetrics-text; version=1.0.0")
    assert openmetrics.startswith("application/openmetrics-text")


async def test_close_unsubscribes() -> None:
    queue = new_queue()
    pipeline = make("closed", Recorder(), queue)
    exporter = Exporter(pipeline)
    assert pipeline.telemetry.enabled
    exporter.close()
    exporter.close()
    assert not pipeline.telemetry.enabled
    queue.push_many(range(5))
    async with pipeline:
        await queue.wait_idle(10)
    assert value(exporter, "broadway_messages_received_total") == 0
