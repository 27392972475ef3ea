"""The attempt number of a delivery, from the attempt header, x-death and redeliveries."""

from __future__ import annotations

from broadway_py.connectors.rabbitmq.attempts import attempt_of, failed_deaths, requeue_counts

H = "x-broadway-attempt"


def test_a_first_delivery_is_attempt_one() -> None:
    assert attempt_of(None, False, "q", H) == 1
    assert attempt_of({}, False, "q", H) == 1
    assert attempt_of({"other": "x"}, False, "q", H) == 1


def test_the_redelivered_flag_adds_one_on_classic_queues() -> None:
    assert attempt_of(None, True, "q", H) == 2
    assert attempt_of({H: 3}, True, "q", H) == 4


def test_the_attempt_header_wins() -> None:
    assert attempt_of({H: 3}, False, "q", H) == 3
    deaths = [{"queue": "q", "reason": "rejected", "count": 7}]
    assert attempt_of({H: 2, "x-death": deaths}, False, "q", H) == 2


def test_x_delivery_count_counts_redeliveries_on_quorum_queues() -> None:
    assert attempt_of({"x-delivery-count": 2}, True, "q", H) == 3
    assert attempt_of({H: 2, "x-delivery-count": 1}, True, "q", H) == 3
    assert attempt_of({"x-delivery-count": 0}, False, "q", H) == 1


def test_x_death_counts_rejections_from_this_queue() -> None:
    deaths = [
        {"queue": "q", "reason": "rejected", "count": 2},
        {"queue": "q.wait", "reason": "expired", "count": 2},
        {"queue": "other", "reason": "rejected", "count": 5},
        {"queue": b"q", "reason": b"delivery_limit", "count": 1},
    ]
    assert failed_deaths(deaths, "q") == 3
    assert attempt_of({"x-death": deaths}, False, "q", H) == 4


def test_malformed_headers_fall_back_to_one() -> None:
    assert attempt_of({H: "3"}, False, "q", H) == 1
    assert attempt_of({H: True}, False, "q", H) == 1
    assert attempt_of({H: 0}, False, "q", H) == 1
    assert attempt_of({"x-death": "nonsense"}, False, "q", H) == 1
    assert (
        attempt_of({"x-death": [{"queue": "q", "reason": "rejected", "count": "2"}]}, False, "q", H)
        == 1
    )
    assert attempt_of({"x-delivery-count": -1}, True, "q", H) == 2


def test_requeue_keeps_the_count_only_where_the_broker_can_count() -> None:
    assert requeue_counts(None, False)
    assert requeue_counts({"x-delivery-count": 3}, True)
    assert not requeue_counts(None, True)
    assert not requeue_counts({H: 2}, True)
