"""The fetch buffer and the retry hold: order kept, partitions dropped."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from broadway_py.acknowledger import NOOP_ACKNOWLEDGER
from broadway_py.connectors.kafka.buffer import FetchBuffer
from broadway_py.connectors.kafka.hold import RetryHold
from broadway_py.message import Message


def messages(key: str, count: int, start: int = 0) -> list[Message]:
    return [
        Message(f"{key}{i}", acknowledger=NOOP_ACKNOWLEDGER) for i in range(start, start + count)
    ]


def test_take_hands_out_an_even_share_of_each_partition_in_turn() -> None:
    buffer = FetchBuffer()
    buffer.put("a", messages("a", 3))
    buffer.put("b", messages("b", 2))
    buffer.put("a", messages("a", 2, 3))
    buffer.put("c", [])
    assert len(buffer) == 7
    assert [m.data for m in buffer.take(2)] == ["a0", "b0"]
    # "a" and "b" each had a turn: "a" goes first again.
    assert [m.data for m in buffer.take(3)] == ["a1", "a2", "b1"]
    assert [m.data for m in buffer.take(10)] == ["a3", "a4"]
    assert buffer.take(1) == []
    assert len(buffer) == 0


def test_one_partitions_backlog_does_not_crowd_out_the_others() -> None:
    buffer = FetchBuffer()
    buffer.put("hot", messages("h", 500))
    for key in ("p1", "p2", "p3"):
        buffer.put(key, messages(key, 10))
    taken = buffer.take(100)
    assert len(taken) == 100
    by_key = [str(m.data)[:2] for m in taken]
    assert by_key.count("p1") == by_key.count("p2") == by_key.count("p3") == 10
    assert sum(k.startswith("h") for k in by_key) == 70


@given(
    st.lists(
        st.tuples(st.sampled_from("abcd"), st.integers(min_value=0, max_value=7)), max_size=30
    ),
    st.lists(st.integers(min_value=0, max_value=12), max_size=30),
)
def test_take_keeps_each_partitions_order_and_loses_nothing(
    puts: list[tuple[str, int]], demands: list[int]
) -> None:
    buffer = FetchBuffer()
    put: dict[str, list[Message]] = {}
    for key, count in puts:
        chunk = messages(key, count, len(put.get(key, [])))
        put.setdefault(key, []).extend(chunk)
        buffer.put(key, chunk)
    taken: list[Message] = []
    for demand in demands:
        got = buffer.take(demand)
        assert len(got) <= demand
        assert len(got) == min(demand, len(got) + len(buffer))
        taken += got
    taken += buffer.clear()
    for key, sent in put.items():
        assert [m for m in taken if str(m.data).startswith(key)] == sent
    assert len(taken) == sum(len(sent) for sent in put.values())


def test_drop_takes_out_one_partition() -> None:
    buffer = FetchBuffer()
    buffer.put("a", messages("a", 2))
    buffer.put("b", messages("b", 2))
    buffer.put("a", messages("a", 1, 2))
    assert [m.data for m in buffer.drop("a")] == ["a0", "a1", "a2"]
    assert len(buffer) == 2
    assert [m.data for m in buffer.take(5)] == ["b0", "b1"]
    assert buffer.clear() == []


def test_hold_releases_by_time_and_drops_by_partition() -> None:
    hold = RetryHold()
    first, second, third = messages("m", 3)
    hold.add(20.0, "a", second)
    hold.add(10.0, "a", first)
    hold.add(30.0, "b", third)
    assert len(hold) == 3
    assert hold.next_due() == 10.0
    assert hold.due(5.0) == []
    assert hold.due(20.0) == [("a", first), ("a", second)]
    assert hold.next_due() == 30.0
    hold.add(25.0, "a", first)
    assert hold.drop("a") == [first]
    assert hold.clear() == [third]
    assert hold.next_due() is None
