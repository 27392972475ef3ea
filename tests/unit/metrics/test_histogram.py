"""Buckets: bulk counting that exports as a Prometheus histogram."""

from __future__ import annotations

import itertools

import pytest

from broadway_py.metrics.histogram import (
    BATCH_SECONDS,
    BATCH_SIZES,
    MESSAGE_SECONDS,
    Buckets,
    decades,
)


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


@pytest.mark.parametrize("bounds", [MESSAGE_SECONDS, BATCH_SECONDS, BATCH_SIZES])
def test_bounds_up_to_ten_rise_by_at_most_two_and_a_half_times_and_read_short(
    bounds: tuple[float, ...],
) -> None:
    steps = [b / a for a, b in itertools.pairwise(bounds) if b <= 10]
    assert steps
    assert all(1 < step <= 2.5 + 1e-9 for step in steps)
    assert all(len(repr(b)) <= 7 for b in bounds), "an le label reads as its decimal literal"


def test_decades_are_the_floats_their_literals_are() -> None:
    assert decades(("1", "2.5", "5"), range(-7, -5)) == (
        1e-07,
        2.5e-07,
        5e-07,
        1e-06,
        2.5e-06,
        5e-06,
    )
