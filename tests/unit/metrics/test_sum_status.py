"""Totals over several workers' /status documents."""

from __future__ import annotations

from typing import Any

from broadway_py.metrics.stats import RECENT_FAILURES
from broadway_py.metrics.sum_status import add_up, status_totals


def test_counters_and_in_flight_are_added_up_ages_and_an_older_backlog_take_the_largest() -> None:
    # Documents without a per-source backlog (older workers): the largest backlog_total.
    one = {
        "in_flight": 2,
        "oldest_in_flight_age": 1.5,
        "backlog_total": 40,
        "counters": {
            "received": 10,
            "acked": {"successful": 7, "retried": 1},
            "rate_limiter_wait_seconds": 0.25,
        },
    }
    other = {
        "in_flight": 3,
        "oldest_in_flight_age": 4.0,
        "backlog_total": 38,
        "counters": {
            "received": 5,
            "acked": {"successful": 5, "retried": 0},
            "rate_limiter_wait_seconds": 0.5,
        },
    }
    assert status_totals([one, other]) == {
        "in_flight": 5,
        "oldest_in_flight_age": 4.0,
        "backlog": None,
        "backlog_total": 40,
        "counters": {
            "received": 15,
            "acked": {"successful": 12, "retried": 1},
            "rate_limiter_wait_seconds": 0.75,
        },
        "partition_lag": None,
        "oldest_in_flight_age_by_producer": None,
        "recent_failures": [],
    }


def test_no_documents_give_empty_totals() -> None:
    assert status_totals([]) == {
        "in_flight": None,
        "oldest_in_flight_age": None,
        "backlog": None,
        "backlog_total": None,
        "counters": None,
        "partition_lag": None,
        "oldest_in_flight_age_by_producer": None,
        "recent_failures": [],
    }


def test_a_queues_depth_takes_the_largest_a_topics_lag_is_added_up() -> None:
    # "jobs" is a queue every worker reports whole; "orders" a topic whose
    # partitions the workers share, the third holding none of them.
    documents = [
        {
            "backlog": {"jobs": 40, "orders": 7},
            "backlog_total": 47,
            "partition_lag": {"orders": {"0": 5, "1": 2}},
        },
        {
            "backlog": {"jobs": 38, "orders": 4},
            "backlog_total": 42,
            "partition_lag": {"orders": {"2": 4}},
        },
        {"backlog": {"jobs": 40, "orders": 0}, "backlog_total": 40, "partition_lag": {}},
    ]
    totals = status_totals(documents)
    assert totals["backlog"] == {"jobs": 40, "orders": 11}
    assert totals["backlog_total"] == 51


def test_a_topic_only_one_worker_holds_partitions_of_is_still_added_up() -> None:
    # The worker holding no partition of "orders" answers first.
    documents = [
        {"backlog": {"orders": 0}, "backlog_total": 0},
        {"backlog": {"orders": 9}, "backlog_total": 9, "partition_lag": {"orders": {"0": 9}}},
        {"backlog": {"orders": 3}, "backlog_total": 3, "partition_lag": {"orders": {"1": 3}}},
    ]
    totals = status_totals(documents)
    assert totals["backlog"] == {"orders": 12}
    assert totals["backlog_total"] == 12


def test_no_backlog_reported_is_a_total_of_0() -> None:
    totals = status_totals([{"backlog": {}, "backlog_total": 0}, {"backlog": {}}])
    assert totals["backlog"] == {}
    assert totals["backlog_total"] == 0


def test_a_key_only_some_workers_have_sums_over_those() -> None:
    assert add_up([{"a": 1, "b": {"x": 2}}, {"a": 2}]) == {"a": 3, "b": {"x": 2}}


def test_texts_and_booleans_are_not_counted() -> None:
    assert add_up([{"n": 1, "why": "x", "ok": True}, {"n": 2, "why": "y", "ok": False}]) == {
        "n": 3,
        "why": None,
        "ok": None,
    }


def failure(at: float, reason: str) -> dict[str, Any]:
    return {
        "at": at,
        "stage": "processor_0",
        "message_id": None,
        "reason": reason,
        "decision": "retry",
        "delay": 1.0,
    }


def test_partition_lags_merge_producer_ages_take_the_largest_failures_interleave() -> None:
    one = {
        "partition_lag": {"orders": {"0": 5, "1": 7}},
        "oldest_in_flight_age_by_producer": {"producer_0": 2.5, "producer_1": 0.0},
        "recent_failures": [failure(30.0, "c"), failure(10.0, "a")],
    }
    other = {
        "partition_lag": {"orders": {"2": 4}, "orders.retry": {"0": 1}},
        "oldest_in_flight_age_by_producer": {"producer_0": 1.0, "producer_1": 3.0},
        "recent_failures": [failure(20.0, "b")],
    }
    totals = status_totals([one, other])
    assert totals["partition_lag"] == {"orders": {"0": 5, "1": 7, "2": 4}, "orders.retry": {"0": 1}}
    assert totals["oldest_in_flight_age_by_producer"] == {"producer_0": 2.5, "producer_1": 3.0}
    assert [f["reason"] for f in totals["recent_failures"]] == ["c", "b", "a"]


def test_the_workers_failures_together_keep_only_the_newest() -> None:
    documents = [
        {"recent_failures": [failure(float(w * 100 + i), f"{w}-{i}") for i in range(19, -1, -1)]}
        for w in range(3)
    ]
    merged = status_totals(documents)["recent_failures"]
    assert len(merged) == RECENT_FAILURES
    assert [f["reason"] for f in merged] == [f"2-{i}" for i in range(19, -1, -1)]
