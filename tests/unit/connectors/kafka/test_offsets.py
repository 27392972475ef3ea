"""The offset tracker: the commit point never passes an offset that is not done.

Deliveries go through the intake's own code (:func:`records.to_messages`, which
records a run with ``delivering()`` and builds each ``KafkaMessage``), and acks
of the current epoch through the acknowledger's hot path (``marker()``), so
these properties hold for the code that runs in production.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable

from aiokafka.structs import ConsumerRecord
from hypothesis import given, settings
from hypothesis import strategies as st

from broadway_py.acknowledger import NOOP_ACKNOWLEDGER
from broadway_py.connectors.kafka.key_ordering import record_key
from broadway_py.connectors.kafka.message import delivery_of
from broadway_py.connectors.kafka.offsets import OffsetTracker, PartitionOffsets
from broadway_py.connectors.kafka.records import to_messages
from broadway_py.message import Message


def deliver(partition: PartitionOffsets, run: Iterable[int]) -> list[Message]:
    """A fetched run of ``partition``, delivered as the intake delivers it."""
    key: Hashable = partition.key
    topic, number = key if isinstance(key, tuple) else (str(key), 0)
    records = [
        ConsumerRecord(topic, number, offset, 0, 0, None, b"v%d" % offset, None, 0, 2, ())
        for offset in run
    ]
    messages = to_messages(records, (topic, number), partition, NOOP_ACKNOWLEDGER)
    for message in messages:
        assert message.metadata["offset"] == message.ack_data
        assert message.data == b"v%d" % message.ack_data
    return messages


def ack(messages: Iterable[Message]) -> None:
    """Mark messages done as the acknowledger's hot path does: their run's ``marker``."""
    for message in messages:
        delivery = delivery_of(message)
        mark = delivery.offsets.marker(delivery.epoch)
        assert mark is not None
        mark(message.ack_data, None)


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
    messages: dict[int, Message] = {}
    for run in runs:
        delivered_run = deliver(partition, run)
        assert [m.ack_data for m in delivered_run] == run
        messages.update((m.ack_data, m) for m in delivered_run)
    done_order = data.draw(st.permutations(offsets))
    count = data.draw(st.integers(0, len(offsets)))
    done: set[int] = set()
    for offset in done_order[:count]:
        ack([messages[offset]])
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
    _, runs = delivered
    partition = PartitionOffsets("p", 1)
    messages = [m for run in runs for m in deliver(partition, run)]
    chosen = data.draw(st.sampled_from(messages))
    ack([chosen])
    before = (partition.commit_point(), partition.pending)
    ack([chosen])
    assert (partition.commit_point(), partition.pending) == before
    assert not partition.done(chosen.ack_data, 0)
    assert (partition.commit_point(), partition.pending) == before


def test_everything_done_commits_one_past_the_last_delivered() -> None:
    partition = PartitionOffsets("p", 1)
    ack(reversed(deliver(partition, [5, 6, 9])))
    assert partition.commit_point() == 10
    assert partition.to_commit() == 10
    partition.mark_committed(10)
    assert partition.to_commit() is None


def test_nothing_to_commit_before_anything_is_done() -> None:
    partition = PartitionOffsets("p", 1)
    assert partition.to_commit() is None
    first, second = deliver(partition, [0, 1])
    assert partition.to_commit() is None
    ack([second])
    assert partition.commit_point() is None
    assert partition.low_water() == 0
    ack([first])
    assert partition.to_commit() == 2


def test_deliveries_at_or_below_the_last_one_are_refused() -> None:
    partition = PartitionOffsets("p", 1)
    deliver(partition, [3, 4, 5])
    assert [m.ack_data for m in deliver(partition, [4, 5, 6, 7])] == [6, 7]
    assert partition.pending == 5
    assert deliver(partition, [6]) == []
    assert partition.last_delivered == 7


@given(deliveries(), st.data())
@settings(max_examples=200)
def test_rewind_forgets_later_deliveries_and_old_acks_of_them(
    delivered: tuple[list[int], list[list[int]]], data: st.DataObject
) -> None:
    offsets, runs = delivered
    partition = PartitionOffsets("p", 1)
    messages = {m.ack_data: m for run in runs for m in deliver(partition, run)}
    done = set(data.draw(st.lists(st.sampled_from(offsets), unique=True)))
    ack(messages[offset] for offset in done)
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
    redelivered = deliver(partition, again)
    assert [m.ack_data for m in redelivered] == again
    assert {delivery_of(m).epoch for m in redelivered} == {epoch}
    for message in redelivered:
        assert partition.is_current(message.ack_data, epoch)
    ack(redelivered)
    # The acks of the old epoch that still count go through ``done``, offset by offset.
    assert partition.marker(0) is None
    # Older deliveries below the rewound offset still count.
    for offset in not_done:
        if offset < rewind_to:
            assert partition.done(offset, 0)
    assert partition.commit_point() == offsets[-1] + 1


def test_acks_after_a_revoke_never_count_under_the_next_generation() -> None:
    tracker = OffsetTracker()
    (first,) = tracker.assign(["p"])
    late = deliver(first, [0, 1, 2])
    ack(late[:1])
    (revoked,) = tracker.revoke(["p"])
    assert revoked is first
    assert not first.alive
    (second,) = tracker.assign(["p"])
    assert second.generation == first.generation + 1
    (again, _) = deliver(second, [1, 2])
    # A late ack of the first generation's delivery of offset 1 is refused.
    assert first.marker(0) is None
    assert not first.done(late[1].ack_data, 0)
    assert second.pending == 2
    assert second.commit_point() is None
    assert tracker.to_commit() == {}
    ack([again])
    assert tracker.to_commit() == {"p": 2}


def test_the_tracker_commits_only_partitions_that_moved() -> None:
    tracker = OffsetTracker()
    a, b = tracker.assign(["a", "b"])
    ack(deliver(a, [0, 1])[:1])
    deliver(b, [0])
    assert tracker.to_commit() == {"a": 1}
    a.mark_committed(1)
    assert tracker.to_commit() == {}
    assert len(tracker) == 2
    assert tracker.get("a") is a
    assert tracker.revoke_all() == [a, b]
    assert tracker.live() == []


def test_the_marker_marks_offsets_of_the_current_epoch_only() -> None:
    partition = PartitionOffsets("p", 1)
    deliver(partition, [0, 1, 2, 3])
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


@given(deliveries(), st.data())
@settings(max_examples=200)
def test_records_finished_out_of_order_across_processors_never_commit_past_an_undone_one(
    delivered: tuple[list[int], list[list[int]]], data: st.DataObject
) -> None:
    """``partition_by: key``: the keys of one partition finish in any interleaving.

    Each processor acks its own records in order, in chunks, interleaved at
    random with the others, with a commit after every ack: the committed
    offset only grows, never passes a record not done, and reaches one past
    the last once all are done.
    """
    offsets, runs = delivered
    processors = data.draw(st.integers(1, 4))
    keys = data.draw(st.lists(st.one_of(st.none(), st.binary(max_size=3)), min_size=1, max_size=6))
    tracker = OffsetTracker()
    (partition,) = tracker.assign([("orders", 0)])
    queues: list[list[Message]] = [[] for _ in range(processors)]
    for run in runs:
        records = [
            ConsumerRecord("orders", 0, o, 0, 0, keys[o % len(keys)], b"v", None, 0, 1, ())
            for o in run
        ]
        for message in to_messages(records, ("orders", 0), partition, NOOP_ACKNOWLEDGER):
            queues[hash(record_key(message)) % processors].append(message)
    done: set[int] = set()
    committed = -1
    while any(queues):
        queue = data.draw(st.sampled_from([q for q in queues if q]))
        chunk = data.draw(st.integers(1, len(queue)))
        finished, queue[:] = queue[:chunk], queue[chunk:]
        ack(finished)
        done.update(m.ack_data for m in finished)
        for offsets_of, point in tracker.to_commit().items():
            assert offsets_of == ("orders", 0)
            assert point > committed
            assert all(o in done for o in offsets if o < point), (point, sorted(done))
            partition.mark_committed(point)
            committed = point
    assert committed == offsets[-1] + 1
