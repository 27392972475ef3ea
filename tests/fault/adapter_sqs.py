"""The fault suite's SQS adapter: a source queue and a dead-letter queue on moto.

Why a short visibility timeout: what a killed process received and never
deleted comes back only when its visibility expires; 3 s keeps the restart
cases quick (the connector's heartbeat extends what is still in flight).
Keep the queue to about 200 messages: moto slows down with depth.
"""

from __future__ import annotations

import contextlib
from typing import Any

from aiobotocore.session import get_session  # type: ignore[import-untyped, unused-ignore]

from tests.fault.workload import ids
from tests.integration.sqs.helpers import (
    ENDPOINT,
    REGION,
    Client,
    DeadLetters,
    Queues,
    publish,
    remaining,
    unique,
)

VISIBILITY = 3
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
}


class SqsAdapter:
    name = "sqs"

    def __init__(
        self, count: int, endpoint: str = ENDPOINT, pipeline_endpoint: str | None = None
    ) -> None:
        self.count = count
        self.endpoint = endpoint
        self.pipeline_endpoint = pipeline_endpoint or endpoint
        self.env = dict(CREDENTIALS)
        self.queue = unique("fault")
        self.dead_letter_queue = f"{self.queue}-dlq"
        self._context: Any = None
        self._client: Client = None
        self._queues: Queues | None = None
        self._url = ""
        self._dead: DeadLetters | None = None

    async def seed(self) -> None:
        self._context = get_session().create_client(
            "sqs",
            region_name=REGION,
            endpoint_url=self.endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        self._client = await self._context.__aenter__()
        self._queues = Queues(self._client)
        for name in (self.queue, self.dead_letter_queue):
            response = await self._client.create_queue(
                QueueName=name, Attributes={"VisibilityTimeout": str(VISIBILITY)}
            )
            self._queues.urls.append(str(response["QueueUrl"]))
        self._url, dead_url = self._queues.urls
        self._dead = DeadLetters(self._client, dead_url)
        await publish(self._client, self._url, [str(i) for i in ids(self.count)])

    def producer(self) -> dict[str, Any]:
        return {
            "sqs": {
                "queue_name": self.queue,
                "region": REGION,
                "endpoint_url": self.pipeline_endpoint,
                "wait_time_seconds": 1,
                "max_number_of_messages": 10,
                "visibility_timeout": VISIBILITY,
                "dead_letter": self.dead_letter_queue,
                "reconnect_min_delay": 0.2,
                "reconnect_max_delay": 1.0,
            }
        }

    def sections(self) -> dict[str, Any]:
        return {}

    async def dead_letters(self) -> list[int]:
        assert self._dead is not None
        messages = await self._dead.collect()
        return [int(m["Body"]) for m in messages.values()]

    async def left(self) -> int:
        return await remaining(self._client, self._url)

    async def retries_waiting(self) -> int:
        """A retry is the source's own message, invisible until due: not told apart here."""
        return 0

    async def close(self) -> None:
        if self._queues is not None:
            await self._queues.delete_all()
        if self._context is not None:
            with contextlib.suppress(Exception):
                await self._context.__aexit__(None, None, None)
