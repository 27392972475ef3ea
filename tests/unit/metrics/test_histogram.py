"""Buckets: bulk counting that exports as a Prometheus histogram."""

from __future__ import annotations

import pytest

from broadway_py.metrics.histogram import MESSAGE_SECONDS, Buckets


def test_values_land_in_the_first_bucket_whose_bound_they_do_not_exceed() -> None:
    buckets = Buckets([0.1, 1.0, 10.0])
    buckets.observe_many((0.05, 0.1, 0.5, 1.0, 5.0, 50.0))
    assert buckets.cumulative() == [
        ("0.1", 2.0),
        ("1.0", 4.0),
        ("10.0", 5.0),
        ("+Inf", 6.0),
    ]
    assert buckets.count == 6
    assert buckets.sum == pytest.approx(56.65)


def test_observe_one_and_many_agree() -> None:
    values = [0.00003, 0.0004, 0.002, 0.3, 7.0, 100.0]
    one, many = Buckets(MESSAGE_SECONDS), Buckets(MESSAGE_SECONDS)
    for value in values:
        one.observe(value)
    many.observe_many(values)
    assert one.cumulative() == many.cumulative()
    assert one.sum == pytest.approx(many.sum)


def test_bounds_are_sorted_and_must_be_distinct() -> None:
    assert Buckets([5, 1, 2]).bounds == (1.0, 2.0, 5.0)
    with pytest.raises(ValueError, match="distinct"):
        Buckets([1, 1])
    with pytest.raises(ValueError, match="at least one"):
        Buckets([])
