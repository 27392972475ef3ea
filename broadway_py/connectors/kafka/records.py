"""Fetched records -> Messages: the connector's hot path, kept free of branches it can skip.

``message.data`` is the record's value as bytes; ``message.metadata`` holds
``topic``, ``partition``, ``offset``, ``key``, ``timestamp`` (milliseconds)
and ``headers`` (a tuple of (name, bytes) pairs), plus, for a record read from
the retry topic, ``original_topic`` / ``original_partition`` /
``original_offset``. ``message.attempt`` comes from the ``broadway-attempt``
header (1 without one). ``message.ack_data`` is ``(partition offsets, epoch,
record)``: what the acknowledger needs to mark it done, and the record as
fetched, which retries and dead letters are copied from.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from broadway_py.acknowledger import Acknowledger
from broadway_py.connectors.kafka.headers import read_attempt, read_origin
from broadway_py.connectors.kafka.offsets import PartitionOffsets
from broadway_py.message import Message


def to_messages(
    records: Sequence[Any],
    offsets: PartitionOffsets,
    acknowledger: Acknowledger,
    attempts: dict[int, int] | None = None,
) -> list[Message]:
    """Messages for one partition's records (already recorded as delivered in ``offsets``).

    ``attempts`` maps an offset to the attempt of its redelivery after an
    in-place retry; entries used are removed.
    """
    epoch = offsets.epoch
    if not records:
        return []
    topic, partition = records[0].topic, records[0].partition
    messages = [
        Message(  # positional: the quick way to build one
            record.value,
            acknowledger,
            None,
            (offsets, epoch, record),
            {
                "topic": topic,
                "partition": partition,
                "offset": record.offset,
                "key": record.key,
                "timestamp": record.timestamp,
                "headers": record.headers,
            },
            read_attempt(record.headers) if record.headers else 1,
        )
        for record in records
    ]
    if attempts:
        for message in messages:
            attempt = attempts.pop(message.metadata["offset"], None)
            if attempt is not None:
                message.attempt = attempt
    return messages


def add_origin(messages: list[Message]) -> None:
    """Tell messages read from the retry topic where they first came from."""
    for message in messages:
        headers = message.metadata["headers"]
        if headers:
            message.metadata.update(read_origin(headers))
