"""With producer.concurrency above 1, each producer's reports count on their own.

The pipeline hands each producer a telemetry view that stamps its index on
what it reports; readiness, /status and the metrics keep state per producer.
"""

from __future__ import annotations

from broadway_py import Pipeline, ProducerOptions
from broadway_py.connectors.memory import MemoryBroker, MemoryProducer, MemoryQueue
from broadway_py.metrics import Exporter
from broadway_py.metrics.status import build_status
from broadway_py.telemetry import (
    AcksDropped,
    BacklogReported,
    Event,
    MessagesAcked,
    PartitionLagReported,
    ProducerConnected,
    Telemetry,
)
from tests.support import Recorder

WINDOW = 60.0


class ReportingProducer(MemoryProducer):
    """A memory producer a test can make report, as a broker connector would."""

    telemetry: Telemetry

    async def start(self, telemetry: Telemetry) -> None:
        self.telemetry = telemetry
        await super().start(telemetry)

    def report(self, event: Event) -> None:
        self.telemetry.emit(event)


def two_producers(queue: MemoryQueue) -> Pipeline:
    return Pipeline(
        "pair", Recorder(), ProducerOptions(lambda: ReportingProducer(queue), concurrency=2)
    )


def producer(pipeline: Pipeline, index: int) -> ReportingProducer:
    made = pipeline.producers[index]
    assert isinstance(made, ReportingProducer)
    return made


def gauge(exporter: Exporter, name: str, **labels: str) -> float | None:
    return exporter.registry.get_sample_value(name, {"pipeline": "pair", **labels})


def test_a_view_stamps_its_producer_and_shares_the_hub() -> None:
    hub = Telemetry("p")
    seen: list[Event] = []
    view = hub.for_producer(1)
    assert hub.for_producer(1) is view
    assert not view.enabled
    unsubscribe = hub.subscribe(seen.append)
    assert view.enabled
    view.emit(ProducerConnected(False, "reset"))
    view.emit(AcksDropped(2, "gone", successful=2))
    view.emit(MessagesAcked("processor", 1, 0, 0, 0))  # not a producer's report: as is
    assert seen == [
        ProducerConnected(False, "reset", producer=1),
        AcksDropped(2, "gone", successful=2, producer=1),
        MessagesAcked("processor", 1, 0, 0, 0),
    ]
    unsubscribe()
    assert not view.enabled


async def test_one_producer_down_and_the_other_up_is_not_ready() -> None:
    queue = MemoryBroker().queue("q")
    pipeline = two_producers(queue)
    exporter = Exporter(pipeline, process_metrics=False)
    async with pipeline:
        assert exporter.readiness(WINDOW).ready
        producer(pipeline, 1).report(ProducerConnected(False, "connection reset"))
        producer(pipeline, 0).report(ProducerConnected(True))  # must not hide producer 1

        readiness = exporter.readiness(WINDOW)
        assert readiness.reasons == ("producer not connected: producer 1: connection reset",)
        assert gauge(exporter, "broadway_producer_connected") == 0
        status = build_status(exporter, WINDOW, admin=False)
        assert status["ready"] is False
        assert status["connected"] is False
        connections = status["producer_connections"]
        assert sorted(connections) == ["producer_0", "producer_1"]
        assert connections["producer_0"]["connected"] is True
        assert connections["producer_1"] == {
            "connected": False,
            "reason": "connection reset",
            "for_seconds": connections["producer_1"]["for_seconds"],
        }

        producer(pipeline, 1).report(ProducerConnected(True))
        assert exporter.readiness(WINDOW).ready
        assert gauge(exporter, "broadway_producer_connected") == 1


async def test_two_members_lags_add_up_and_a_shared_queue_does_not() -> None:
    queue = MemoryBroker().queue("q")
    pipeline = two_producers(queue)
    exporter = Exporter(pipeline, process_metrics=False)
    async with pipeline:
        # Kafka-style: each group member reports the lag of its own partitions.
        producer(pipeline, 0).report(PartitionLagReported("orders", 0, 900))
        producer(pipeline, 0).report(BacklogReported("orders", 900))
        producer(pipeline, 1).report(PartitionLagReported("orders", 1, 100))
        producer(pipeline, 1).report(BacklogReported("orders", 100))
        # Queue-style: both consumers see the same queue's depth.
        producer(pipeline, 0).report(BacklogReported("jobs", 30))
        producer(pipeline, 1).report(BacklogReported("jobs", 30))

        assert gauge(exporter, "broadway_backlog_messages", source="orders") == 1000
        assert gauge(exporter, "broadway_backlog_messages", source="jobs") == 30
        status = build_status(exporter, WINDOW, admin=False)
        assert status["backlog"] == {"jobs": 30, "orders": 1000}
        assert status["backlog_total"] == 1030


async def test_acked_total_leaves_out_what_a_producer_dropped() -> None:
    queue = MemoryBroker().queue("q")
    pipeline = two_producers(queue)
    exporter = Exporter(pipeline, process_metrics=False)
    async with pipeline:
        producer(pipeline, 1).report(AcksDropped(2, "channel closed", successful=2))
        pipeline.telemetry.emit(MessagesAcked("processor", 5, 0, 0, 0))
        assert gauge(exporter, "broadway_messages_acked_total", outcome="successful") == 3
        assert gauge(exporter, "broadway_acks_dropped_total") == 2
