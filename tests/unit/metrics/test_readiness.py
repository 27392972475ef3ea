"""Readiness and liveness decisions, with a clock the test moves."""

from __future__ import annotations

import pytest

from broadway_py.metrics import PipelineStats, check_health, check_readiness
from broadway_py.telemetry import (
    BacklogReported,
    MessagesAcked,
    PartitionLagReported,
    ProducerConnected,
)

WINDOW = 10.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def stats(clock: Clock) -> PipelineStats:
    return PipelineStats(clock=clock)


def ack(stats: PipelineStats) -> None:
    stats(MessagesAcked("processor", 1, 0, 0, 0))


def test_a_running_idle_pipeline_is_ready(stats: PipelineStats) -> None:
    readiness = check_readiness("running", 0, 0.0, stats, WINDOW)
    assert readiness.ready
    assert readiness.as_json() == {"ready": True, "state": "running", "reasons": []}


@pytest.mark.parametrize(
    ("state", "word"),
    [
        ("new", "starting"),
        ("starting", "starting"),
        ("draining", "draining"),
        ("stopped", "stopped"),
        ("failed", "failed"),
    ],
)
def test_only_running_is_ready(stats: PipelineStats, state: str, word: str) -> None:
    readiness = check_readiness(state, 0, 0.0, stats, WINDOW)
    assert not readiness.ready
    assert readiness.reasons[0].startswith(word + ":")


def test_a_disconnected_producer_is_not_ready_until_it_reconnects(stats: PipelineStats) -> None:
    stats(ProducerConnected(False, "connection refused by 127.0.0.1:39092"))
    readiness = check_readiness("running", 0, 0.0, stats, WINDOW)
    assert readiness.reasons == (
        "producer not connected: producer 0: connection refused by 127.0.0.1:39092",
    )
    stats(ProducerConnected(True))
    assert check_readiness("running", 0, 0.0, stats, WINDOW).ready


def test_one_producer_down_of_two_is_not_ready(stats: PipelineStats) -> None:
    stats(ProducerConnected(True, producer=0))
    stats(ProducerConnected(False, "connection reset", producer=1))
    stats(ProducerConnected(True, producer=0))
    readiness = check_readiness("running", 0, 0.0, stats, WINDOW)
    assert readiness.reasons == ("producer not connected: producer 1: connection reset",)
    stats(ProducerConnected(True, producer=1))
    assert check_readiness("running", 0, 0.0, stats, WINDOW).ready


def test_a_partitioned_backlog_counts_every_members_lag(clock: Clock, stats: PipelineStats) -> None:
    stats(PartitionLagReported("orders", 0, 900, producer=0))
    stats(BacklogReported("orders", 900, producer=0))
    stats(PartitionLagReported("orders", 1, 100, producer=1))
    stats(BacklogReported("orders", 100, producer=1))
    clock.now += WINDOW * 2
    (reason,) = check_readiness("running", 0, 0.0, stats, WINDOW).reasons
    assert reason.endswith("while 1000 waiting in the broker; stall window 10s")


def test_in_flight_work_without_acks_past_the_window_is_a_stall(
    clock: Clock, stats: PipelineStats
) -> None:
    ack(stats)
    clock.now += WINDOW + 1
    readiness = check_readiness("running", 5, WINDOW + 0.5, stats, WINDOW)
    assert not readiness.ready
    (reason,) = readiness.reasons
    assert reason.startswith("stalled: nothing acknowledged for 11.0s while 5 messages in flight")
    assert "stall window 10s" in reason


def test_recent_progress_is_not_a_stall(clock: Clock, stats: PipelineStats) -> None:
    clock.now += 100
    ack(stats)
    clock.now += WINDOW - 1
    assert check_readiness("running", 5, 60.0, stats, WINDOW).ready


def test_work_pending_for_less_than_the_window_is_not_a_stall(
    clock: Clock, stats: PipelineStats
) -> None:
    ack(stats)
    clock.now += 3600  # idle for an hour, then a message comes
    assert check_readiness("running", 1, WINDOW - 1, stats, WINDOW).ready
    assert not check_readiness("running", 1, WINDOW + 1, stats, WINDOW).ready


def test_nothing_ever_acked_with_old_work_is_a_stall(stats: PipelineStats) -> None:
    (reason,) = check_readiness("running", 2, WINDOW * 2, stats, WINDOW).reasons
    assert reason.startswith("stalled: nothing acknowledged yet while 2 messages in flight")


def test_a_backlog_the_pipeline_does_not_take_is_a_stall(
    clock: Clock, stats: PipelineStats
) -> None:
    stats(BacklogReported("orders", 100))
    clock.now += WINDOW / 2
    assert check_readiness("running", 0, 0.0, stats, WINDOW).ready
    clock.now += WINDOW
    (reason,) = check_readiness("running", 0, 0.0, stats, WINDOW).reasons
    assert reason.endswith("while 100 waiting in the broker; stall window 10s")
    stats(BacklogReported("orders", 0))
    assert check_readiness("running", 0, 0.0, stats, WINDOW).ready


def test_every_reason_is_reported_at_once(clock: Clock, stats: PipelineStats) -> None:
    stats(ProducerConnected(False, "timeout"))
    clock.now += WINDOW * 2
    reasons = check_readiness("draining", 3, WINDOW * 2, stats, WINDOW).reasons
    assert [r.split(":")[0] for r in reasons] == ["draining", "producer not connected", "stalled"]


def test_alive_unless_failed() -> None:
    for state in ("new", "starting", "running", "draining", "stopped"):
        assert check_health(state).alive
    failed = check_health("failed")
    assert not failed.alive
    assert failed.as_json() == {"alive": False, "state": "failed", "reason": failed.reason}
    assert "gave up" in failed.reason
