"""Fetched records -> Messages: the connector's hot path, kept free of branches it can skip.

``message.data`` is the record's value as bytes; ``message.metadata`` holds
``topic``, ``partition``, ``offset``, ``key``, ``timestamp`` (milliseconds)
and ``headers`` (a tuple of (name, bytes) pairs), plus, for a record read from
the retry topic, ``original_topic`` / ``original_partition`` /
``original_offset``. ``message.attempt`` comes from the ``broadway-attempt``
header (1 without one).

``message.ack_data`` is ``(delivery, offset, value, key, headers)``: the
record's offset and, as fetched, what retries and dead letters are copied
from (the pipeline may decode ``message.data`` meanwhile). ``delivery`` is
``(partition offsets, epoch, (topic, partition))``, one tuple shared by every
message of a fetched run: what the acknowledger needs to mark them done, in
runs. The aiokafka record itself is not kept: it dies with the poll, so a
message in flight holds no more objects the garbage collector has to walk
than it must.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from broadway_py.acknowledger import Acknowledger
from broadway_py.connectors.kafka.headers import Headers, read_attempt, read_origin
from broadway_py.connectors.kafka.offsets import PartitionOffsets
from broadway_py.message import Message

#: ``(partition offsets, epoch, (topic, partition))``: one per fetched run.
Delivery = tuple[PartitionOffsets, int, tuple[str, int]]


class Fetched(NamedTuple):
    """A message's record as fetched: what a retry or dead-letter copy is made from."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers


def to_messages(
    records: Sequence[Any],
    offsets: PartitionOffsets,
    acknowledger: Acknowledger,
    attempts: dict[int, int] | None = None,
) -> list[Message]:
    """Record one partition's fetched run as delivered in ``offsets``; its messages.

    Records at or below the last offset delivered (a fetch that raced a seek)
    are dropped. ``attempts`` maps an offset to the attempt of its redelivery
    after an in-place retry; entries used are removed.
    """
    if records and records[0].offset <= offsets.last_delivered:
        records = records[offsets.stale_prefix([r.offset for r in records]) :]
    if not records:
        return []
    first = records[0]
    topic, partition = first.topic, first.partition
    pending, epoch = offsets.delivering(first.offset, records[-1].offset)
    delivery: Delivery = (offsets, epoch, (topic, partition))
    # Copying a template is quicker than a dict display, and gives the same dict.
    template = {
        "topic": topic,
        "partition": partition,
        "offset": 0,
        "key": None,
        "timestamp": 0,
        "headers": (),
    }
    copy = template.copy
    messages: list[Message] = []
    append = messages.append
    for record in records:
        metadata = copy()
        metadata["offset"] = offset = record.offset
        metadata["timestamp"] = record.timestamp
        pending[offset] = epoch
        key = record.key
        if key is not None:
            metadata["key"] = key
        headers = record.headers
        if headers:
            metadata["headers"] = headers
            attempt = read_attempt(headers)
        else:
            attempt = 1
        value = record.value
        append(
            Message(  # positional: the quick way to build one
                value,
                acknowledger,
                None,
                (delivery, offset, value, key, headers),
                metadata,
                attempt,
            )
        )
    if attempts:
        for message in messages:
            again = attempts.pop(message.ack_data[1], None)
            if again is not None:
                message.attempt = again
    return messages


def add_origin(messages: list[Message]) -> None:
    """Tell messages read from the retry topic where they first came from."""
    for message in messages:
        headers = message.ack_data[4]
        if headers:
            message.metadata.update(read_origin(headers))


def delivery_of(message: Message) -> Delivery:
    """The partition offsets and epoch a message was delivered in."""
    delivery: Delivery = message.ack_data[0]
    return delivery


def offset_of(message: Message) -> int:
    """A message's offset, as fetched (whatever its metadata says now)."""
    offset: int = message.ack_data[1]
    return offset


def headers_of(message: Message) -> Headers:
    """A message's headers, as fetched."""
    headers: Headers = message.ack_data[4]
    return headers


def fetched(message: Message) -> Fetched:
    """The record a message was made from, as fetched."""
    (_, _, (topic, partition)), offset, value, key, headers = message.ack_data
    return Fetched(topic, partition, offset, key, value, headers)
