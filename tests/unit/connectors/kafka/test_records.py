"""Fetched records become KafkaMessages through the intake's own hot path.

``records.to_messages`` builds each message with ``KafkaMessage``'s hand-written
``__init__`` (it skips ``Message.__init__`` for speed), so these properties
check what it builds against what ``Message.__init__`` would have set: a slot
added to Message and forgotten there fails here.
"""

from __future__ import annotations

from aiokafka.structs import ConsumerRecord
from hypothesis import given
from hypothesis import strategies as st

from broadway_py.acknowledger import NOOP_ACKNOWLEDGER
from broadway_py.connectors.kafka.headers import ATTEMPT, message_id
from broadway_py.connectors.kafka.message import Delivery, KafkaMessage, delivery_of
from broadway_py.connectors.kafka.offsets import PartitionOffsets
from broadway_py.connectors.kafka.records import fetched, to_messages
from broadway_py.message import Message

headers = st.one_of(
    st.just(()),
    st.lists(
        st.tuples(st.sampled_from([ATTEMPT, "trace", "x"]), st.binary(max_size=4)), max_size=3
    ).map(tuple),
)
records = st.lists(
    st.tuples(
        st.integers(1, 5),  # the gap to the previous offset
        st.one_of(st.none(), st.binary(max_size=8)),  # key
        st.one_of(st.none(), st.binary(max_size=8)),  # value
        st.integers(0, 2**41),  # timestamp, ms
        headers,
    ),
    max_size=20,
)


def consumer_records(
    start: int,
    drawn: list[tuple[int, bytes | None, bytes | None, int, tuple[tuple[str, bytes], ...]]],
) -> list[ConsumerRecord[bytes, bytes]]:
    made = []
    offset = start
    for gap, key, value, timestamp, record_headers in drawn:
        offset += gap
        made.append(
            ConsumerRecord("t", 3, offset, timestamp, 0, key, value, None, 0, 0, record_headers)
        )
    return made


@given(st.integers(-1, 100), records, st.integers(-1, 200))
def test_messages_are_what_message_init_and_the_records_say(
    start: int,
    drawn: list[tuple[int, bytes | None, bytes | None, int, tuple[tuple[str, bytes], ...]]],
    already: int,
) -> None:
    fetched_records = consumer_records(start, drawn)
    partition = PartitionOffsets(("t", 3), 1)
    partition.last_delivered = already  # a fetch that raced a seek: what is at or below is old
    messages = to_messages(fetched_records, ("t", 3), partition, NOOP_ACKNOWLEDGER)
    fresh = [r for r in fetched_records if r.offset > already]
    assert [m.ack_data for m in messages] == [r.offset for r in fresh]
    assert partition.pending == len(fresh)
    deliveries = {id(delivery_of(m)) for m in messages}
    assert len(deliveries) <= 1  # one Delivery per fetched run, shared
    for message, record in zip(messages, fresh, strict=True):
        assert type(message) is KafkaMessage
        delivery = delivery_of(message)
        assert isinstance(delivery, Delivery)
        assert (delivery.offsets, delivery.epoch, delivery.key) == (partition, 0, ("t", 3))
        assert partition.is_current(record.offset, delivery.epoch)
        plain = Message(record.value, NOOP_ACKNOWLEDGER, delivery, record.offset)
        for slot in Message.__slots__:
            if slot not in ("metadata", "attempt", "id"):
                assert getattr(message, slot) == getattr(plain, slot), slot
        assert message.id == message_id(record.headers or (), "t", 3, record.offset)
        record_headers = record.headers
        attempts = [v for k, v in record_headers if k == ATTEMPT]
        if not attempts:
            assert message.attempt == 1
        assert message.metadata == {
            "topic": "t",
            "partition": 3,
            "offset": record.offset,
            "key": record.key,
            "timestamp": record.timestamp,
            "headers": record_headers,
        }
        assert (message.topic, message.partition, message.offset) == ("t", 3, record.offset)
        copy = fetched(message)
        assert (copy.offset, copy.key, copy.value, copy.headers) == (
            record.offset,
            record.key,
            record.value,
            record_headers,
        )


def test_the_attempt_comes_from_its_header() -> None:
    partition = PartitionOffsets(("t", 0), 1)
    record = ConsumerRecord("t", 0, 7, 0, 0, None, b"v", None, 0, 0, ((ATTEMPT, b"3"),))
    (message,) = to_messages([record], ("t", 0), partition, NOOP_ACKNOWLEDGER)
    assert message.attempt == 3
