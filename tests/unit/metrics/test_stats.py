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
    PartitionLagReported,
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
    assert stats.disconnected_reasons() == ["producer 0: connection refused"]
    stats(ProducerConnected(True))
    assert stats.connected is True
    assert stats.disconnected_reasons() == []


def test_each_producer_reports_its_own_connection() -> None:
    stats = PipelineStats()
    stats(ProducerConnected(True, producer=0))
    stats(ProducerConnected(True, producer=1))
    assert stats.connected is True
    stats(ProducerConnected(False, "connection reset", producer=1))
    stats(ProducerConnected(True, producer=0))  # the other one's report does not hide it
    assert stats.connected is False
    assert stats.disconnected_reasons() == ["producer 1: connection reset"]
    stats(ProducerConnected(True, producer=1))
    assert stats.connected is True


def test_a_partitioned_backlog_is_the_sum_of_the_producers_shares() -> None:
    # Two Kafka group members, each reporting the lag of its own partitions.
    stats = PipelineStats()
    for producer, partition, lag in ((0, 0, 900), (1, 1, 100)):
        stats(PartitionLagReported("orders", partition, lag, producer=producer))
        stats(BacklogReported("orders", lag, producer=producer))
    assert stats.backlog == {"orders": 1000}
    assert stats.backlog_total == 1000
    stats(PartitionLagReported("orders", 1, 40, producer=1))
    stats(BacklogReported("orders", 40, producer=1))  # replaces producer 1's share only
    assert stats.backlog == {"orders": 940}


def test_a_queue_backlog_is_the_latest_report_of_any_producer() -> None:
    # Two consumers of one queue both see its whole depth: not added up.
    stats = PipelineStats()
    stats(BacklogReported("jobs", 50, producer=0))
    stats(BacklogReported("jobs", 48, producer=1))
    assert stats.backlog == {"jobs": 48}
    stats(BacklogReported("jobs", 0, producer=0))
    assert stats.backlog_total == 0


def test_acked_counts_what_the_broker_was_told() -> None:
    stats = PipelineStats()
    # The connector reports the drop from within its ack call: before MessagesAcked.
    stats(AcksDropped(3, "channel closed", successful=2, retried=1))
    stats(MessagesAcked("processor", 5, 1, 0, 0))
    assert stats.acked == {"successful": 3, "retried": 0, "dead_lettered": 0, "discarded": 0}
    assert stats.acked_by_stage["processor"] == {  # what the stage handed over
        "successful": 5,
        "retried": 1,
        "dead_lettered": 0,
        "discarded": 0,
    }
    assert stats.acks_dropped == 3


def test_a_late_drop_never_makes_acked_go_down() -> None:
    stats = PipelineStats()
    stats(MessagesAcked("batcher", 10, 0, 0, 0))
    stats(AcksDropped(4, "session lost", successful=4))
    assert stats.acked["successful"] == 10  # a counter never goes down ...
    stats(MessagesAcked("batcher", 6, 0, 0, 0))  # ... the redelivered four acked again
    assert stats.acked["successful"] == 12
    stats(MessagesAcked("batcher", 1, 0, 0, 0))
    assert stats.acked["successful"] == 13


def test_a_drop_without_outcomes_is_only_counted_as_dropped() -> None:
    stats = PipelineStats()
    stats(AcksDropped(2, "partition revoked"))
    stats(MessagesAcked("processor", 2, 0, 0, 0))
    assert stats.acks_dropped == 2
    assert stats.acked["successful"] == 2


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
