"""Fetched records -> KafkaMessages: the connector's hot path, kept free of branches it can skip.

``message.data`` is the record's value as bytes; ``message.metadata`` holds
``topic``, ``partition``, ``offset``, ``key``, ``timestamp`` (milliseconds)
and ``headers`` (a tuple of (name, bytes) pairs), plus, for a record read from
the retry topic, ``original_topic`` / ``original_partition`` /
``original_offset``. ``message.attempt`` comes from the ``broadway-attempt``
header (1 without one). See :mod:`.message` for how a message is built (one
object per record) and acknowledged (``ack_ref``: its run's
:class:`~.message.Delivery`; ``ack_data``: its offset). The aiokafka record
itself is not kept: it dies with the poll.

A message the pipeline replaced with a plain :class:`~broadway_py.Message`
(carrying over ``acknowledger``, ``ack_ref``, ``ack_data`` and ``metadata``)
is acknowledged the same way; a retry or dead-letter copy of it is made from
its metadata and its ``data`` (bytes as they are, anything else as UTF-8
text), since the record as fetched went with the message it replaced.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from broadway_py.acknowledger import Acknowledger
from broadway_py.connectors.kafka.headers import Headers, read_attempt, read_origin
from broadway_py.connectors.kafka.message import Delivery, KafkaMessage, delivery_of, offset_of
from broadway_py.connectors.kafka.offsets import PartitionOffsets
from broadway_py.message import Message


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
    partition: tuple[str, int],
    offsets: PartitionOffsets,
    acknowledger: Acknowledger,
    attempts: dict[int, int] | None = None,
) -> list[Message]:
    """Record a fetched run of ``partition`` (topic, number) as delivered in ``offsets``.

    ``records`` are aiokafka's ConsumerRecords or, from a lean fetch (see
    :mod:`.lean_fetch`), its decoded records: both have ``offset``, ``key``,
    ``value``, ``timestamp`` and ``headers`` (the partition is given apart).

    Records at or below the last offset delivered (a fetch that raced a seek)
    are dropped. ``attempts`` maps an offset to the attempt of its redelivery
    after an in-place retry; entries used are removed.
    """
    if records and records[0].offset <= offsets.last_delivered:
        records = records[offsets.stale_prefix([r.offset for r in records]) :]
    if not records:
        return []
    pending, epoch = offsets.delivering(records[0].offset, records[-1].offset)
    delivery = Delivery(offsets, epoch, partition)
    messages: list[Message] = []
    append = messages.append
    for record in records:
        pending[offset := record.offset] = epoch
        headers = record.headers
        append(
            KafkaMessage(  # positional: the quick way to build one
                record.value,
                acknowledger,
                delivery,
                offset,
                record.key,
                record.timestamp,
                tuple(headers) if headers else (),
                read_attempt(headers) if headers else 1,
            )
        )
    if attempts:
        for message in messages:
            again = attempts.pop(message.ack_data, None)
            if again is not None:
                message.attempt = again
    return messages


def add_origin(messages: list[Message]) -> None:
    """Tell messages read from the retry topic where they first came from."""
    for message in messages:
        headers = headers_of(message)
        if headers:
            message.metadata.update(read_origin(headers))


def headers_of(message: Message) -> Headers:
    """A message's headers, as fetched."""
    if type(message) is KafkaMessage:
        return message.headers
    headers: Headers = message.metadata.get("headers") or ()
    return headers


def fetched(message: Message) -> Fetched:
    """The record a message was made from, as fetched."""
    topic, partition = delivery_of(message).key
    if type(message) is KafkaMessage:
        return Fetched(
            topic, partition, message.ack_data, message.key, message.value, message.headers
        )
    metadata = message.metadata
    return Fetched(
        topic,
        partition,
        offset_of(message),
        metadata.get("key"),
        _as_bytes(message.data),
        headers_of(message),
    )


def _as_bytes(data: Any) -> bytes | None:
    if data is None or isinstance(data, bytes):
        return data
    if isinstance(data, bytearray | memoryview):
        return bytes(data)
    return str(data).encode()
