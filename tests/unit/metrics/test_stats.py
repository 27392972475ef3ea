"""PipelineStats counts telemetry events and never raises into the pipeline."""

from __future__ import annotations

import logging

import pytest

from broadway_py.metrics.stats import PipelineStats
from broadway_py.telemetry import (
    AckFailed,
    AcksDropped,
    BacklogReported,
    BatchHandled,
    MessagesAcked,
    MessagesHandled,
    MessagesReceived,
    PipelineStateChanged,
    ProducerConnected,
    RateLimiterWaited,
    StageRestarted,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_counts_every_kind_of_event() -> None:
    clock = Clock()
    stats = PipelineStats(clock=clock, wall_clock=lambda: 1_700_000_000.0)
    stats(MessagesReceived(0, 10))
    stats(MessagesReceived(1, 5))
    stats(MessagesHandled(0, 8, 2, (0.001,) * 10))
    stats(BatchHandled("db", 7, 1, 0.02, "size"))
    stats(MessagesAcked("processor", 1, 2, 3, 4))
    stats(MessagesAcked("batcher", 6, 0, 0, 0))
    stats(AckFailed("batcher", "ConnectionError()"))
    stats(AcksDropped(3, "channel closed"))
    stats(RateLimiterWaited(0.25))
    stats(RateLimiterWaited(0.5))
    stats(StageRestarted("producer", "producer_0", "crashed", 4))
    stats(BacklogReported("orders", 40))
    stats(PipelineStateChanged("running"))  # read from the pipeline itself: ignored

    assert stats.received == 15
    assert stats.stages["producer_1"] == {"received": 5}
    assert (stats.processed_ok, stats.processed_failed) == (8, 2)
    assert stats.stages["processor_0"] == {"ok": 8, "failed": 2}
    assert stats.message_seconds.count == 10
    db = stats.batchers["db"]
    assert (db.batches, db.messages, db.failed) == (1, 7, 1)
    assert (db.seconds.count, db.sizes.count, db.sizes.sum) == (1, 1, 7.0)
    assert stats.acked == {"successful": 7, "retried": 2, "dead_lettered": 3, "discarded": 4}
    assert stats.acked_by_stage["batcher"]["successful"] == 6
    assert stats.ack_failures == 1
    assert stats.last_ack_failure == "batcher: ConnectionError()"
    assert stats.acks_dropped == 3
    assert stats.rate_limiter_wait == pytest.approx(0.75)
    assert stats.restarts == {"producer": 1, "processor": 0, "batcher": 0}
    assert stats.stages["producer_0"] == {"received": 10, "restarts": 1}
    assert stats.backlog == {"orders": 40}
    assert stats.last_progress_unix == 1_700_000_000.0


def test_progress_is_an_ack_of_at_least_one_message() -> None:
    clock = Clock()
    stats = PipelineStats(clock=clock)
    assert stats.progress_age() is None
    stats(MessagesAcked("processor", 0, 0, 0, 0))
    assert stats.progress_age() is None
    stats(MessagesAcked("processor", 0, 1, 0, 0))
    clock.now += 2.5
    assert stats.progress_age() == pytest.approx(2.5)


def test_connection_follows_the_last_report() -> None:
    stats = PipelineStats()
    assert stats.connected is None
    stats(ProducerConnected(False, "connection refused"))
    assert stats.connected is False
    assert stats.disconnected_reasons() == ["producer: connection refused"]
    stats(ProducerConnected(True))
    assert stats.connected is True
    assert stats.disconnected_reasons() == []


def since(stats: PipelineStats) -> float | None:
    return stats.backlog_since


def test_backlog_dates_when_it_became_pending() -> None:
    clock = Clock()
    stats = PipelineStats(clock=clock)
    stats(BacklogReported("a", 5))
    assert stats.backlog_since == 100.0
    clock.now = 110.0
    stats(BacklogReported("b", 3))
    assert (stats.backlog_total, stats.backlog_since) == (8, 100.0)
    stats(BacklogReported("a", 0))
    stats(BacklogReported("b", 0))
    assert stats.backlog_total == 0
    assert since(stats) is None
    stats(BacklogReported("a", -1))  # nonsense from a connector: taken as 0
    assert stats.backlog == {"a": 0, "b": 0}


def test_a_broken_event_is_logged_once_and_never_raised(caplog: pytest.LogCaptureFixture) -> None:
    stats = PipelineStats()
    broken = MessagesHandled(0, 1, 0, ("not a number",))  # type: ignore[arg-type]
    with caplog.at_level(logging.ERROR, "broadway_py.metrics"):
        stats(broken)
        stats(broken)
    assert len([r for r in caplog.records if "could not count" in r.message]) == 1
    stats(MessagesReceived(0, 3))  # still counting
    assert stats.received == 3


def test_unknown_events_are_ignored() -> None:
    stats = PipelineStats()
    stats(object())  # type: ignore[arg-type]
    assert stats.received == 0
