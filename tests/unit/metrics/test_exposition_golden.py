"""The exported text, byte for byte, for a fixed set of events and clocks.

Refactoring the collector or the histograms must not change one byte of what
Prometheus scrapes: names, help texts, label sets, label order, bucket bounds
and values. The expected texts were rendered before the collector became
table-driven; regenerate them only for a deliberate change of the exposition
(``BROADWAY_REGENERATE_GOLDEN=1``).
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

import pytest

import broadway_py
from broadway_py import BatcherOptions, Pipeline, ProducerOptions, telemetry
from broadway_py.connectors.memory import MemoryBroker, MemoryProducer
from broadway_py.metrics import Exporter
from broadway_py.metrics.stats import PipelineStats
from tests.support import Recorder

GOLDEN = Path(__file__).parent / "golden"
FORMATS = {
    "prometheus.txt": "",
    "openmetrics.txt": "application/openmetrics-text; version=1.0.0",
}
EVENTS: tuple[telemetry.Event, ...] = (
    telemetry.MessagesReceived(producer=0, count=7),
    telemetry.MessagesHandled(
        processor=0, successful=5, failed=2, durations=(2e-7, 3e-6, 0.004, 0.2, 1.5, 45.0, 90.0)
    ),
    telemetry.BatchHandled(batcher="bulk", size=3, failed=1, duration=0.03, trigger="size"),
    telemetry.BatchHandled(batcher="late", size=700, failed=0, duration=200.0, trigger="timeout"),
    telemetry.MessagesAcked(
        stage="batcher_bulk_0", successful=3, retried=1, dead_lettered=1, discarded=1
    ),
    telemetry.AckFailed(stage="processor_0", error="boom"),
    telemetry.AcksDropped(count=2, reason="channel closed", retried=1, discarded=1),
    telemetry.RateLimiterWaited(seconds=0.75),
    telemetry.HandlerAbandoned(processor=0, executor="thread", count=2),
    telemetry.StageRestarted(group="processor", stage="processor_0", reason="crash", redelivered=0),
    telemetry.ProducerConnected(connected=True),
    telemetry.BacklogReported(source="q", messages=12),
    telemetry.PartitionLagReported(source="topic", partition=1, messages=4),
)


def render(accept: str) -> str:
    queue = MemoryBroker().queue("q")
    pipeline = Pipeline(
        "golden",
        Recorder(),
        ProducerOptions(MemoryProducer.factory(queue)),
        batchers=[BatcherOptions("bulk", batch_size=10), BatcherOptions("idle")],
    )
    wall = iter([1_700_000_000.0, 1_700_000_123.5])
    stats = PipelineStats(clock=lambda: 50.0, wall_clock=lambda: next(wall))
    exporter = Exporter(pipeline, stats=stats, process_metrics=False)
    try:
        for event in EVENTS:
            stats(event)
        body, _ = exporter.render(accept)
    finally:
        exporter.close()
    text = body.decode()
    text = text.replace(f'python="{platform.python_version()}"', 'python="PYTHON"')
    return text.replace(f'version="{broadway_py.__version__}"', 'version="VERSION"')


@pytest.mark.parametrize("name", list(FORMATS))
def test_the_exposition_is_byte_identical(name: str) -> None:
    text = render(FORMATS[name])
    path = GOLDEN / name
    if os.environ.get("BROADWAY_REGENERATE_GOLDEN") == "1":
        path.write_text(text)
    assert text == path.read_text()
