"""The progress line counts telemetry events."""

from __future__ import annotations

from broadway_py import Pipeline, ProducerOptions
from broadway_py.connectors.memory import MemoryProducer
from broadway_py.service.progress import Progress
from broadway_py.telemetry import MessagesAcked, MessagesReceived


def test_counts_and_rate() -> None:
    now = [100.0]
    pipeline = Pipeline(
        "p", handler=lambda m: m, producer=ProducerOptions(MemoryProducer.factory("progress"))
    )
    progress = Progress(pipeline, clock=lambda: now[0])
    emit = pipeline.telemetry.emit
    emit(MessagesReceived(0, 100))
    emit(MessagesAcked("processor", 80, 5, 2, 1))
    now[0] = 102.0
    text, fields = progress.line()
    assert text == (
        "progress: received 100, acked ok 80 / retried 5 / dead-lettered 2 / discarded 1, "
        "in flight 0, 44 msg/s"
    )
    assert fields["rate"] == 44.0
    emit(MessagesAcked("batcher", 12, 0, 0, 0))
    now[0] = 106.0
    text, fields = progress.line(final=True)
    assert fields["ok"] == 92
    assert fields["seconds"] == 6.0
    assert text.startswith("finished in 6.0s: received 100, acked ok 92 /")
    assert text.endswith("17 msg/s on average")
    progress.close()
    emit(MessagesReceived(0, 5))
    assert progress.received == 100
