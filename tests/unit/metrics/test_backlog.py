"""How several producers' backlog reports on one source combine."""

from __future__ import annotations

from broadway_py.metrics.backlog import Backlog
from broadway_py.telemetry import BacklogReported, PartitionLagReported


def member_round(backlog: Backlog, producer: int, source: str, lags: dict[int, int]) -> None:
    """One commit tick of a Kafka group member: its partitions' lags, then their sum."""
    for partition, lag in lags.items():
        backlog.partition_lag(PartitionLagReported(source, partition, lag, producer=producer))
    backlog.reported(BacklogReported(source, sum(lags.values()), producer=producer))


def test_members_lags_add_up() -> None:
    backlog = Backlog()
    member_round(backlog, 0, "orders", {0: 900})
    member_round(backlog, 1, "orders", {1: 100})
    assert backlog.by_source == {"orders": 1000}
    member_round(backlog, 1, "orders", {1: 60})
    assert backlog.total == 960


def test_a_partition_that_moved_counts_once_under_its_new_owner() -> None:
    backlog = Backlog()
    member_round(backlog, 0, "orders", {0: 150, 1: 150})  # first to join: holds both
    member_round(backlog, 1, "orders", {1: 140})  # the rebalance gave it partition 1
    assert backlog.total == 290  # not 440: partition 1 is producer 1's now
    member_round(backlog, 0, "orders", {0: 130})
    assert backlog.total == 270


def test_a_member_left_without_partitions_leaves_no_stale_lag() -> None:
    # More producers than partitions: producer 0 loses everything and reports no more.
    backlog = Backlog()
    member_round(backlog, 0, "orders", {0: 500, 1: 500})
    member_round(backlog, 1, "orders", {0: 480})
    member_round(backlog, 2, "orders", {1: 470})
    assert backlog.total == 950


def test_a_partition_taken_by_another_process_is_dropped_at_the_next_round() -> None:
    backlog = Backlog()
    member_round(backlog, 0, "orders", {0: 10, 1: 20})
    member_round(backlog, 0, "orders", {0: 5})
    assert backlog.by_source == {"orders": 5}


def test_queue_depths_are_not_added_up() -> None:
    backlog = Backlog()
    backlog.reported(BacklogReported("jobs", 50, producer=0))
    backlog.reported(BacklogReported("jobs", 47, producer=1))
    assert backlog.by_source == {"jobs": 47}
    backlog.reported(BacklogReported("jobs", -3, producer=0))  # nonsense: taken as 0
    assert backlog.total == 0


def test_sources_are_kept_apart() -> None:
    backlog = Backlog()
    member_round(backlog, 0, "orders", {0: 7})
    backlog.reported(BacklogReported("jobs", 3, producer=0))
    assert backlog.by_source == {"orders": 7, "jobs": 3}
    assert backlog.total == 10
