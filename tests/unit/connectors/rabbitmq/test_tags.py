"""Delivery-tag bookkeeping: multiple acks only where no outstanding tag is below."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from broadway_py.connectors.rabbitmq.tags import DeliveryTracker


def tracker_with(tags: range | list[int]) -> DeliveryTracker:
    tracker = DeliveryTracker()
    for tag in tags:
        tracker.add(tag, float(tag))
    return tracker


def test_a_contiguous_run_from_the_lowest_tag_is_one_multiple_ack() -> None:
    tracker = tracker_with(range(1, 11))
    assert tracker.settle([3, 1, 2, 4]) == ([(4, True, 4)], 0)
    assert tracker.lowest() == 5
    assert len(tracker) == 6


def test_tags_above_an_outstanding_one_are_acked_singly() -> None:
    tracker = tracker_with(range(1, 6))
    frames, unknown = tracker.settle([1, 2, 4])
    assert frames == [(2, True, 2), (4, False, 1)]
    assert unknown == 0
    # 3 is still outstanding: a multiple ack on 4 would have acked it too.
    assert 3 in tracker
    assert tracker.settle([3, 5]) == ([(5, True, 2)], 0)
    assert len(tracker) == 0


def test_a_single_tag_below_the_lowest_is_not_multiple() -> None:
    tracker = tracker_with(range(1, 4))
    assert tracker.settle([1]) == ([(1, False, 1)], 0)


def test_tags_not_outstanding_are_skipped_and_counted() -> None:
    tracker = tracker_with(range(1, 4))
    assert tracker.settle([1]) == ([(1, False, 1)], 0)
    assert tracker.settle([1, 2, 99]) == ([(2, False, 1)], 2)


def test_forgotten_tags_no_longer_block_a_multiple_ack() -> None:
    tracker = tracker_with(range(1, 6))
    assert tracker.forget([1, 3, 42]) == 2
    assert tracker.settle([2, 4]) == ([(4, True, 2)], 0)
    assert tracker.lowest() == 5


def test_overdue_reports_each_tag_once() -> None:
    tracker = DeliveryTracker()
    tracker.add(1, 0.0)
    tracker.add(2, 5.0)
    tracker.add(3, 9.0)
    assert tracker.overdue(10.0, 4.0) == [(1, 10.0), (2, 5.0)]
    assert tracker.overdue(11.0, 4.0) == []
    assert tracker.overdue(14.0, 4.0) == [(3, 5.0)]
    tracker.settle([1, 2, 3])
    assert tracker.overdue(100.0, 4.0) == []


def test_clear_forgets_everything() -> None:
    tracker = tracker_with(range(1, 4))
    assert tracker.clear() == 3
    assert tracker.lowest() is None
    assert tracker.settle([1]) == ([], 1)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(min_value=1, max_value=60),
    st.lists(st.lists(st.integers(min_value=1, max_value=70), max_size=15), max_size=12),
)
def test_frames_ack_exactly_the_requested_outstanding_tags(
    delivered: int, rounds: list[list[int]]
) -> None:
    """Applied with the broker's semantics, the frames settle what was asked and nothing else."""
    tracker = tracker_with(range(1, delivered + 1))
    server = set(range(1, delivered + 1))  # unacked on the broker
    for requested in rounds:
        before = set(server)
        frames, unknown = tracker.settle(requested)
        acked: set[int] = set()
        for tag, multiple, count in frames:
            assert tag in server, "an ack for a tag the broker does not hold closes the channel"
            covered = {t for t in server if t <= tag} if multiple else {tag}
            assert len(covered) == count
            acked |= covered
            server -= covered
        wanted = before & set(requested)
        assert acked == wanted
        assert unknown == len(requested) - len(wanted)
        assert len(tracker) == len(server)
