"""Totals over several workers' /status documents."""

from __future__ import annotations

from broadway_py.metrics.sum_status import add_up, status_totals


def test_counters_and_in_flight_are_added_up_ages_and_backlog_take_the_largest() -> None:
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
        "backlog_total": 40,
        "counters": {
            "received": 15,
            "acked": {"successful": 12, "retried": 1},
            "rate_limiter_wait_seconds": 0.75,
        },
    }


def test_no_documents_give_empty_totals() -> None:
    assert status_totals([]) == {
        "in_flight": None,
        "oldest_in_flight_age": None,
        "backlog_total": None,
        "counters": None,
    }


def test_a_key_only_some_workers_have_sums_over_those() -> None:
    assert add_up([{"a": 1, "b": {"x": 2}}, {"a": 2}]) == {"a": 3, "b": {"x": 2}}


def test_texts_and_booleans_are_not_counted() -> None:
    assert add_up([{"n": 1, "why": "x", "ok": True}, {"n": 2, "why": "y", "ok": False}]) == {
        "n": 3,
        "why": None,
        "ok": None,
    }
