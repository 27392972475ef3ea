"""``broadway-py send`` for SQS: SendMessageBatch to the source queue, ten at a time.

Headers become String message attributes. The key is the MessageGroupId of a
FIFO queue (default :data:`DEFAULT_GROUP`), each message with a deduplication
id of its own, so two equal lines are two messages; a standard queue has no
key. :meth:`SqsSender.send` returns once SQS took every entry, or raises.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from broadway_py.connectors.sqs.client import aiobotocore_client_factory, resolve_queue_url
from broadway_py.connectors.sqs.errors import error_code, translate
from broadway_py.connectors.sqs.options import Options
from broadway_py.connectors.toolkit.sending import Outbound
from broadway_py.errors import ConnectorError

DEFAULT_GROUP = "broadway-py"
"""The message group of lines sent to a FIFO queue without a key."""
_PER_CALL = 10


class SqsSender:
    def __init__(self, client: Any, url: str, options: Options) -> None:
        self.client = client
        self.url = url
        self.options = options

    async def send(self, batch: Sequence[Outbound]) -> int:
        fifo = self.options.is_fifo
        if not fifo and any(item.key is not None for item in batch):
            raise ConnectorError(
                f"a key is the message group of a FIFO queue; {self.options.queue_label!r} "
                "is a standard queue"
            )
        confirmed = 0
        for start in range(0, len(batch), _PER_CALL):
            entries = [
                _entry(str(index), item, fifo)
                for index, item in enumerate(batch[start : start + _PER_CALL])
            ]
            try:
                response = await self.client.send_message_batch(QueueUrl=self.url, Entries=entries)
            except Exception as error:
                raise translate(error, self.options.queue, "SendMessageBatch") from None
            failed = response.get("Failed") or []
            if failed:
                first = failed[0]
                raise ConnectorError(
                    f"SQS refused {len(failed)} of {len(entries)} messages sent to "
                    f"{self.options.queue_label!r}: {first.get('Code')}: {first.get('Message')}"
                )
            confirmed += len(response.get("Successful") or [])
        return confirmed


def _entry(entry_id: str, item: Outbound, fifo: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "Id": entry_id,
        "MessageBody": item.body.decode("utf-8", errors="replace"),
    }
    if item.headers:
        entry["MessageAttributes"] = {
            name: {"DataType": "String", "StringValue": value}
            for name, value in item.headers.items()
        }
    if fifo:
        entry["MessageGroupId"] = item.key or DEFAULT_GROUP
        entry["MessageDeduplicationId"] = uuid.uuid4().hex
    return entry


@asynccontextmanager
async def open_sender(options: Options) -> AsyncIterator[SqsSender]:
    """A sender to the source queue (its URL resolved); the client closed on exit."""
    async with aiobotocore_client_factory(options, 2)() as client:
        try:
            url = await resolve_queue_url(client, options.queue)
        except Exception as error:
            code = error_code(error)[0]
            raise translate(error, options.queue, f"GetQueueUrl {code}".strip()) from None
        yield SqsSender(client, url, options)
