"""The offset tracker: the commit point never passes an offset that is not done."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from broadway_py.connectors.kafka.offsets import OffsetTracker, PartitionOffsets


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[list[int], list[list[int]]]:
    """Ascending offsets with gaps (compaction, markers), cut into fetched runs."""
    start = draw(st.integers(0, 1000))
    gaps = draw(st.lists(st.integers(1, 4), min_size=1, max_size=60))
    offsets = []
    at = start
    for gap in gaps:
        offsets.append(at)
        at += gap
    cuts = (
        sorted(draw(st.sets(st.integers(1, len(offsets) - 1), max_size=8)))
        if len(offsets) > 1
        else []
    )
    runs, last = [], 0
    for cut in [*cuts, len(offsets)]:
        runs.append(offsets[last:cut])
        last = cut
    return offsets, runs


def expected_point(offsets: list[int], done: set[int]) -> int | None:
    """The first offset not done, or one past the last; None while the first is not done."""
    if offsets[0] not in done:
        return None
    for offset in offsets:
        if offset not in done:
            return offset
    return offsets[-1] + 1


@given(deliveries(), st.data())
@settings(max_examples=300)
def test_commit_point_is_the_first_offset_not_done(
    delivered: tuple[list[int], list[list[int]]], data: st.DataObject
) -> None:
    offsets, runs = delivered
    partition = PartitionOffsets("p", generation=1)
    for run in runs:
        assert partition.deliver(run) == 0
    done_order = data.draw(st.permutations(offsets))
    count = data.draw(st.integers(0, len(offsets)))
    done: set[int] = set()
    for offset in done_order[:count]:
        assert partition.done(offset, partition.epoch)
        done.add(offset)
        point = partition.commit_point()
        assert point == expected_point(offsets, done)
        assert partition.low_water() == (point if point is not None else offsets[0])
        if point is not None:
            # Never past an offset that is not done.
            assert all(o in done for o in offsets if o < point)
    assert partition.pending == len(offsets) - count


@given(deliveries(), st.data())
def test_a_second_ack_of_the_same_offset_changes_nothing(
    delivered: tuple[list[int], list[list[int]]], data: st.DataObject
) -> None:
    offsets, runs = delivered
    partition = PartitionOffsets("p", 1)
    for run in runs:
        partition.deliver(run)
    chosen = data.draw(st.sampled_from(offsets))
    assert partition.done(chosen, 0)
    before = (partition.commit_point(), partition.pending)
    assert not partition.done(chosen, 0)
    assert (partition.commit_point(), partition.pending) == before


def test_everything_done_commits_one_past_the_last_delivered() -> None:
    partition = PartitionOffsets("p", 1)
    partition.deliver([5, 6, 9])
    for offset in (9, 6, 5):
        partition.done(offset, 0)
    assert partition.commit_point() == 10
    assert partition.to_commit() == 10
    partition.mark_committed(10)
    assert partition.to_commit() is None


def test_nothing_to_commit_before_anything_is_done() -> None:
    partition = PartitionOffsets("p", 1)
    assert partition.to_commit() is None
    partition.deliver([0, 1])
    assert partition.to_commit() is None
    partition.done(1, 0)
    assert partition.commit_point() is None
    assert partition.low_water() == 0
    partition.done(0, 0)
    assert partition.to_commit() == 2


def test_deliveries_at_or_below_the_last_one_are_refused() -> None:
    partition = PartitionOffsets("p", 1)
    partition.deliver([3, 4, 5])
    assert partition.deliver([4, 5, 6, 7]) == 2
    assert partition.pending == 5
    assert partition.deliver([6]) == 1
    assert partition.last_delivered == 7


@given(deliveries(), st.data())
@settings(max_examples=200)
def test_rewind_forgets_later_deliveries_and_old_acks_of_them(
    delivered: tuple[list[int], list[list[int]]], data: st.DataObject
) -> None:
    offsets, runs = delivered
    partition = PartitionOffsets("p", 1)
    for run in runs:
        partition.deliver(run)
    done = set(data.draw(st.lists(st.sampled_from(offsets), unique=True)))
    for offset in done:
        partition.done(offset, 0)
    not_done = [o for o in offsets if o not in done]
    if not not_done:
        return
    rewind_to = data.draw(st.sampled_from(not_done))
    epoch = partition.rewind(rewind_to)
    assert epoch == 1
    # The commit point stays at or below the rewound offset.
    point = partition.commit_point()
    prefix = []
    for offset in offsets:
        if offset not in done:
            break
        prefix.append(offset)
    if not prefix:
        assert point is None
    else:
        # Past the done prefix, not past the first offset not done (<= the rewound one).
        first_not_done = offsets[len(prefix)]
        assert prefix[-1] < point <= first_not_done <= rewind_to
    # Acks of the old deliveries from the rewound offset on are refused...
    for offset in offsets:
        if offset >= rewind_to:
            assert not partition.done(offset, 0)
    # ...and the partition is read again from there, under the new epoch.
    again = [o for o in offsets if o >= rewind_to]
    assert partition.deliver(again) == 0
    for offset in again:
        assert partition.done(offset, epoch)
    # Older deliveries below the rewound offset still count.
    for offset in not_done:
        if offset < rewind_to:
            assert partition.done(offset, 0)
    assert partition.commit_point() == offsets[-1] + 1


def test_acks_after_a_revoke_never_count_under_the_next_generation() -> None:
    tracker = OffsetTracker()
    (first,) = tracker.assign(["p"])
    first.deliver([0, 1, 2])
    first.done(0, 0)
    (revoked,) = tracker.revoke(["p"])
    assert revoked is first
    assert not first.alive
    (second,) = tracker.assign(["p"])
    assert second.generation == first.generation + 1
    second.deliver([1, 2])
    # A late ack of the first generation's delivery of offset 1 is refused.
    assert not first.done(1, 0)
    assert second.pending == 2
    assert second.commit_point() is None
    assert tracker.to_commit() == {}
    second.done(1, 0)
    assert tracker.to_commit() == {"p": 2}


def test_the_tracker_commits_only_partitions_that_moved() -> None:
    tracker = OffsetTracker()
    a, b = tracker.assign(["a", "b"])
    a.deliver([0, 1])
    b.deliver([0])
    a.done(0, 0)
    assert tracker.to_commit() == {"a": 1}
    a.mark_committed(1)
    assert tracker.to_commit() == {}
    assert len(tracker) == 2
    assert tracker.get("a") is a
    assert tracker.revoke_all() == [a, b]
    assert tracker.live() == []


def test_the_marker_marks_offsets_of_the_current_epoch_only() -> None:
    partition = PartitionOffsets("p", 1)
    partition.deliver([0, 1, 2, 3])
    mark = partition.marker(0)
    assert mark is not None
    mark(0, None)
    mark(1, None)
    mark(1, None)  # a second ack changes nothing
    assert partition.pending == 2
    assert partition.commit_point() == 2
    partition.rewind(3)
    assert partition.marker(0) is None  # an older epoch: each offset is checked (done)
    assert partition.done(2, 0)
    assert not partition.done(3, 0)  # forgotten by the rewind
    assert partition.commit_point() == 3
    assert partition.marker(1) is not None
    partition.alive = False
    assert partition.marker(1) is None
