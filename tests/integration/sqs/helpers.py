"""What the SQS integration tests share: settings, queue helpers, telemetry totals."""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Sequence
from typing import Any

from broadway_py import Pipeline, ProducerOptions
from broadway_py.connectors.sqs import Options, producer_factory
from broadway_py.telemetry import Event, MessagesAcked, Telemetry

ENDPOINT = os.environ.get("BROADWAY_SQS_ENDPOINT", "http://127.0.0.1:35000")
REGION = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")

Client = Any  # aiobotocore's SQS client (untyped)


def unique(prefix: str) -> str:
    return f"it-{prefix}-{uuid.uuid4().hex[:10]}"


class Queues:
    """Creates uniquely named queues and deletes them when the test ends."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.urls: list[str] = []

    async def create(
        self,
        prefix: str,
        visibility_timeout: int = 30,
        fifo: bool = False,
        redrive_to: str | None = None,
        max_receive_count: int = 3,
    ) -> str:
        name = unique(prefix) + (".fifo" if fifo else "")
        attributes = {"VisibilityTimeout": str(visibility_timeout)}
        if fifo:
            attributes["FifoQueue"] = "true"
        if redrive_to is not None:
            arn = await self.arn(redrive_to)
            attributes["RedrivePolicy"] = json.dumps(
                {"deadLetterTargetArn": arn, "maxReceiveCount": str(max_receive_count)}
            )
        response = await self.client.create_queue(QueueName=name, Attributes=attributes)
        url = str(response["QueueUrl"])
        self.urls.append(url)
        return url

    async def arn(self, url: str) -> str:
        response = await self.client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return str(response["Attributes"]["QueueArn"])

    async def delete_all(self) -> None:
        for url in self.urls:
            with contextlib.suppress(Exception):
                await self.client.delete_queue(QueueUrl=url)


def pipeline_of(name: str, handler: Any, options: Options, **settings: Any) -> Pipeline:
    """A pipeline on one SQS producer of demand 10; ``settings``: processors, retry, telemetry."""
    producer = ProducerOptions(producer_factory(options, demand=10))
    return Pipeline(name, handler, producer, **settings)


async def publish(
    client: Client, url: str, bodies: Sequence[str], group: str | None = None
) -> None:
    """Send in order, 10 per call (FIFO: one group, deduplicated by body)."""
    for start in range(0, len(bodies), 10):
        entries: list[dict[str, Any]] = []
        for i, body in enumerate(bodies[start : start + 10]):
            entry: dict[str, Any] = {"Id": str(i), "MessageBody": body}
            if group is not None:
                entry["MessageGroupId"] = group
                entry["MessageDeduplicationId"] = uuid.uuid5(uuid.NAMESPACE_URL, body).hex
            entries.append(entry)
        response = await client.send_message_batch(QueueUrl=url, Entries=entries)
        assert not response.get("Failed"), response["Failed"]


async def counts(client: Client, url: str) -> tuple[int, int, int]:
    """(visible, in flight, delayed) messages of a queue."""
    response = await client.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    )
    attributes = response["Attributes"]
    return (
        int(attributes["ApproximateNumberOfMessages"]),
        int(attributes["ApproximateNumberOfMessagesNotVisible"]),
        int(attributes["ApproximateNumberOfMessagesDelayed"]),
    )


async def remaining(client: Client, url: str) -> int:
    return sum(await counts(client, url))


async def empty(client: Client, url: str) -> bool:
    """Nothing visible, in flight or delayed: a condition for ``wait_until``."""
    return await remaining(client, url) == 0


class DeadLetters:
    """Takes what arrives in a dead-letter queue (kept invisible) and remembers it."""

    def __init__(self, client: Client, url: str) -> None:
        self.client = client
        self.url = url
        self.messages: dict[str, dict[str, Any]] = {}

    async def collect(self) -> dict[str, dict[str, Any]]:
        while True:
            response = await self.client.receive_message(
                QueueUrl=self.url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=0,
                VisibilityTimeout=600,
                MessageAttributeNames=["All"],
            )
            received = response.get("Messages") or []
            if not received:
                return self.messages
            for message in received:
                self.messages[message["MessageId"]] = message

    def bodies(self) -> list[str]:
        return sorted(m["Body"] for m in self.messages.values())

    async def at_least(self, count: int) -> bool:
        """``count`` or more have arrived: a condition for ``wait_until``."""
        return len(await self.collect()) >= count


class AckTotals:
    """Sums the MessagesAcked events of a pipeline's telemetry."""

    def __init__(self, telemetry: Telemetry) -> None:
        self.successful = self.retried = self.dead_lettered = self.discarded = 0
        self.events: list[Event] = []
        telemetry.subscribe(self._on)

    def _on(self, event: Event) -> None:
        self.events.append(event)
        if isinstance(event, MessagesAcked):
            self.successful += event.successful
            self.retried += event.retried
            self.dead_lettered += event.dead_lettered
            self.discarded += event.discarded

    def final(self) -> int:
        return self.successful + self.dead_lettered + self.discarded

    def as_tuple(self) -> tuple[int, int, int, int]:
        return (self.successful, self.retried, self.dead_lettered, self.discarded)
