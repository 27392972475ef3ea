from broadway_py import BatcherOptions, Message
from broadway_py.acknowledger import NOOP_ACKNOWLEDGER
from broadway_py.topology.batcher import BatchAccumulator


def messages(*data: object, key: object = None) -> list[Message]:
    made = [Message(d, acknowledger=NOOP_ACKNOWLEDGER) for d in data]
    for m in made:
        m.batch_key = key
    return made


def test_closes_at_batch_size() -> None:
    acc = BatchAccumulator(BatcherOptions("b", batch_size=3, batch_timeout=10))
    closed = acc.add(messages(1, 2, 3, 4), now=0)
    assert [[m.data for m in b.messages] for b in closed] == [[1, 2, 3]]
    assert closed[0].info.trigger == "size"
    assert closed[0].info.size == 3
    assert len(acc) == 1


def test_closes_at_the_timeout_of_its_first_message() -> None:
    acc = BatchAccumulator(BatcherOptions("b", batch_size=10, batch_timeout=2))
    acc.add(messages(1), now=5)
    acc.add(messages(2), now=6)
    assert acc.next_deadline() == 7
    assert acc.expire(6.9) == []
    (batch,) = acc.expire(7)
    assert [m.data for m in batch.messages] == [1, 2]
    assert batch.info.trigger == "timeout"
    assert acc.next_deadline() is None


def test_batch_keys_batch_separately() -> None:
    acc = BatchAccumulator(BatcherOptions("b", batch_size=2, batch_timeout=10))
    closed = acc.add(messages(1, key="a") + messages(2, key="b") + messages(3, key="a"), now=0)
    assert [(b.info.batch_key, [m.data for m in b.messages]) for b in closed] == [("a", [1, 3])]
    assert len(acc) == 1


def test_max_bytes_closes_a_batch() -> None:
    acc = BatchAccumulator(BatcherOptions("b", batch_size=100, max_bytes=10, batch_timeout=10))
    closed = acc.add(messages(b"12345", b"1234", b"12"), now=0)
    assert [len(b.messages) for b in closed] == [3]
    assert closed[0].info.trigger == "bytes"


def test_flush_mode_closes_the_batch_at_once() -> None:
    acc = BatchAccumulator(BatcherOptions("b", batch_size=100, batch_timeout=10))
    batch = messages(1, 2)
    batch[1].put_batch_mode("flush")
    (closed,) = acc.add(batch, now=0)
    assert closed.info.trigger == "flush"
    assert len(closed) == 2


def test_partition_by_keeps_a_key_in_one_lane() -> None:
    options = BatcherOptions(
        "b", batch_size=100, batch_timeout=1, concurrency=4, partition_by=lambda m: m.data % 3
    )
    acc = BatchAccumulator(options)
    acc.add(messages(*range(30)), now=0)
    closed = acc.flush_all()
    lanes: dict[int, set[int]] = {}
    for batch in closed:
        lanes.setdefault(batch.info.partition, set()).update(m.data % 3 for m in batch.messages)
        assert [m.data for m in batch.messages] == sorted(m.data for m in batch.messages)
    keys = [k for lane in lanes.values() for k in lane]
    assert sorted(keys) == [0, 1, 2]  # each key in exactly one lane
    assert all(b.info.trigger == "drain" for b in closed)


def test_a_closed_batch_leaves_no_live_deadline() -> None:
    acc = BatchAccumulator(BatcherOptions("b", batch_size=1, batch_timeout=1))
    acc.add(messages(1), now=0)
    assert acc.next_deadline() is None
    assert acc.expire(100) == []
