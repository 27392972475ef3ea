"""FIFO queues: the messages of one MessageGroupId keep their order.

SQS hands out a group's messages in order and holds the rest of a group back
while one of its messages is in flight. In the pipeline, the ordering key
sends every message of a group to the same processor (and batch processor),
which keeps that order end to end.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

from broadway_py.connectors.sqs.options import Options
from broadway_py.message import Message


def message_group_id(message: Message) -> Hashable:
    """The message's SQS MessageGroupId (None on a standard queue)."""
    return message.metadata.get("message_group_id")


def ordering_key(options: Options) -> Callable[[Message], Hashable] | None:
    """The key whose order must hold: MessageGroupId on a FIFO queue, else None."""
    return message_group_id if options.is_fifo else None
