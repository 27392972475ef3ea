"""Dead letters: where a dead_letter decision sends a message, and how.

:func:`plan_dead_letters` decides once, at connect: a dead-letter queue of
the options (sent there, then deleted), the queue's own RedrivePolicy (made
visible, for SQS to move), or neither (left in the queue for its visibility
timeout, with a warning). :func:`dead_letter_entry` builds the message sent
to a dead-letter queue: the original body and attributes, plus the reason
(and, in a traced pipeline, the failed attempt's trace context: :func:`add_trace`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from broadway_py.connectors.sqs.client import QueueInfo, SqsClient, resolve_queue_url
from broadway_py.connectors.sqs.errors import translate
from broadway_py.connectors.sqs.ledger import Received
from broadway_py.connectors.sqs.options import Options, queue_name_of
from broadway_py.errors import ConfigurationError

log = logging.getLogger("broadway_py.connectors.sqs")

REASON_ATTRIBUTE = "broadway.failure_reason"
SOURCE_ATTRIBUTE = "broadway.source_queue"
ATTEMPT_ATTRIBUTE = "broadway.attempt"
MESSAGE_ID_ATTRIBUTE = "broadway.message_id"
MAX_ATTRIBUTES = 10  # SQS's limit of message attributes per message
MAX_REASON = 4096
FIFO_DEAD_LETTER_GROUP = "broadway-dead-letters"


@dataclass(frozen=True)
class DeadLetterQueue:
    url: str
    name: str
    fifo: bool


@dataclass(frozen=True)
class DeadLetterPlan:
    """What a dead_letter decision does: send to ``queue``, or change visibility."""

    queue: DeadLetterQueue | None
    redrive: bool
    leave_visibility: int


async def plan_dead_letters(
    client: SqsClient, options: Options, info: QueueInfo, visibility: int
) -> DeadLetterPlan:
    """What a dead_letter decision will do for this queue; checks what it needs."""
    mode = options.dead_letter_mode
    if mode == "queue":
        target = options.dead_letter
        assert target is not None
        try:
            url = await resolve_queue_url(client, target)
            await client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        except Exception as error:
            raise translate(error, target, "the dead-letter queue") from error
        name = queue_name_of(url)
        return DeadLetterPlan(DeadLetterQueue(url, name, name.endswith(".fifo")), False, 0)
    if info.max_receive_count is not None:
        return DeadLetterPlan(None, True, visibility)
    if mode == "redrive":
        raise ConfigurationError(
            "dead_letter",
            f"'redrive' needs a RedrivePolicy on queue {info.name!r}, which has none",
        )
    log.warning(
        "SQS queue %s has no dead-letter queue and no RedrivePolicy: messages the retry "
        "policy dead-letters stay in the queue and come back after %ss "
        "(set the dead_letter option)",
        info.name,
        visibility,
    )
    return DeadLetterPlan(None, False, visibility)


def add_trace(record: Received, context: Mapping[str, str]) -> None:
    """Give ``record``'s dead-letter copy the failed attempt's trace ``context``.

    As String message attributes, in place of the ones the message came with;
    a new dict, so the message's ``metadata["message_attributes"]`` stays as
    it was received.
    """
    if context:
        traced = {k: {"DataType": "String", "StringValue": v} for k, v in context.items()}
        record.message_attributes = {**record.message_attributes, **traced}


def dead_letter_entry(
    entry_id: str, record: Received, reason: str, source: str, fifo: bool
) -> dict[str, Any]:
    """A SendMessageBatch entry that carries the message to a dead-letter queue."""
    ours: dict[str, dict[str, str]] = {
        REASON_ATTRIBUTE: {"DataType": "String", "StringValue": (reason or "unknown")[:MAX_REASON]},
        SOURCE_ATTRIBUTE: {"DataType": "String", "StringValue": source},
        ATTEMPT_ATTRIBUTE: {"DataType": "Number", "StringValue": str(record.attempt)},
        MESSAGE_ID_ATTRIBUTE: {"DataType": "String", "StringValue": record.message_id},
    }
    attributes: dict[str, dict[str, Any]] = {}
    room = MAX_ATTRIBUTES - len(ours)
    for name, value in record.message_attributes.items():
        if len(attributes) >= room:
            break
        if name in ours or not isinstance(value, dict):
            continue
        kept = {k: value[k] for k in ("DataType", "StringValue", "BinaryValue") if k in value}
        if "DataType" in kept and len(kept) == 2:
            attributes[name] = kept
    attributes.update(ours)
    entry: dict[str, Any] = {
        "Id": entry_id,
        "MessageBody": record.body,
        "MessageAttributes": attributes,
    }
    if fifo:
        entry["MessageGroupId"] = record.group_id or FIFO_DEAD_LETTER_GROUP
        entry["MessageDeduplicationId"] = record.message_id[:128]
    return entry


def entry_size(record: Received, reason: str) -> int:
    """About how many bytes a dead-letter entry takes in a SendMessageBatch call."""
    size = len(record.body.encode()) + min(len(reason), MAX_REASON) * 4 + 512
    for name, value in record.message_attributes.items():
        size += len(name) + len(str(value))
    return size
