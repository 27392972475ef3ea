"""Which partitions a poll asks for: those with little pending first, never a starved one."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from broadway_py.connectors.kafka.fairness import LEVELS, next_poll

PARTITIONS = [("t", p) for p in range(4)] + [("t.retry", p) for p in range(4)]


def test_nothing_assigned_yet_takes_one_record() -> None:
    assert next_poll([], {}, 500, 500) == ([], 1)


def test_one_partition_is_never_restricted() -> None:
    assert next_poll([("t", 0)], {("t", 0): 10_000}, 500, 500) == ([], 500)


def test_a_partition_with_much_in_flight_yields_to_the_others() -> None:
    pending = {("t", 0): 500, ("t", 1): 10}
    tries, max_records = next_poll(PARTITIONS, pending, 400, 500)
    assert max_records == 50  # a share: 400 / 8 partitions
    assert tries[0] == [tp for tp in PARTITIONS if tp != ("t", 0)]


def test_when_those_behind_have_nothing_the_next_tries_widen() -> None:
    # Every source partition at its share; the retry partitions (behind) usually empty.
    pending = {("t", 0): 60, ("t", 1): 90, ("t", 2): 150, ("t", 3): 400}
    tries, _ = next_poll(PARTITIONS, pending, 400, 500)
    assert [len(t) for t in tries] == [4, 6, 7]
    assert ("t", 0) in tries[1]
    assert ("t", 3) not in tries[-1]


def test_all_at_or_below_a_share_asks_for_any() -> None:
    assert next_poll(PARTITIONS, {}, 400, 500) == ([], 50)


@given(
    st.dictionaries(
        st.sampled_from(PARTITIONS), st.integers(min_value=0, max_value=5000), max_size=8
    ),
    st.integers(min_value=1, max_value=10_000),
    st.integers(min_value=1, max_value=2_000),
    st.integers(min_value=0, max_value=8),
)
def test_invariants(
    pending: dict[tuple[str, int], int], capacity: int, max_poll_records: int, count: int
) -> None:
    assigned = PARTITIONS[:count]
    tries, max_records = next_poll(assigned, pending, capacity, max_poll_records)
    assert 1 <= max_records <= max_poll_records
    if not assigned:
        assert max_records == 1
    assert len(tries) <= LEVELS
    for earlier, later in itertools.pairwise(tries):
        assert set(earlier) < set(later)
    for partitions in tries:
        assert partitions
        assert set(partitions) < set(assigned)
    if tries:  # the first ask is for those least in flight
        least = min(pending.get(tp, 0) for tp in assigned)
        assert all(pending.get(tp, 0) >= least for tp in tries[0])
        assert any(pending.get(tp, 0) == least for tp in tries[0])
