"""The fetch buffer and the retry hold: order kept, partitions dropped."""

from __future__ import annotations

from broadway_py.acknowledger import NOOP_ACKNOWLEDGER
from broadway_py.connectors.kafka.buffer import FetchBuffer
from broadway_py.connectors.kafka.hold import RetryHold
from broadway_py.message import Message


def messages(key: str, count: int, start: int = 0) -> list[Message]:
    return [
        Message(f"{key}{i}", acknowledger=NOOP_ACKNOWLEDGER) for i in range(start, start + count)
    ]


def test_take_hands_out_chunks_oldest_first_in_pieces() -> None:
    buffer = FetchBuffer()
    buffer.put("a", messages("a", 3))
    buffer.put("b", messages("b", 2))
    buffer.put("a", messages("a", 2, 3))
    buffer.put("c", [])
    assert len(buffer) == 7
    assert [m.data for m in buffer.take(2)] == ["a0", "a1"]
    assert [m.data for m in buffer.take(3)] == ["a2", "b0", "b1"]
    assert [m.data for m in buffer.take(10)] == ["a3", "a4"]
    assert buffer.take(1) == []
    assert len(buffer) == 0


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
