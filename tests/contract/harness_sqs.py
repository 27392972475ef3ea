"""The SQS connector's contract harness, against moto in server mode.

Each test gets its own source queue and dead-letter queue (unique names). The
source queue's visibility timeout is short (3 s) and long polls are 1 s: after
a kill, what the killed pipeline held is released by its producer's close, but
a long poll the close cancelled keeps running on the server's side until its
wait time ends, and what it takes there comes back only after the visibility
timeout. Short polls and a short timeout keep that to one 3-second round.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from contextlib import AsyncExitStack, suppress
from typing import Any

from aiobotocore.session import get_session  # type: ignore[import-untyped, unused-ignore]

from broadway_py import ProducerOptions
from broadway_py.connectors.sqs import Options, producer_factory
from tests.contract.harness import ConnectorHarness

ENDPOINT = os.environ.get("BROADWAY_SQS_ENDPOINT", "http://127.0.0.1:35000")
REGION = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
VISIBILITY_TIMEOUT = 3


def use_test_credentials() -> None:
    """moto takes any credentials; the connector reads them from the standard chain."""
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)


class SqsHarness(ConnectorHarness):
    name = "sqs"
    patience = 30.0
    retry_delay = 0.0

    async def setup(self) -> None:
        use_test_credentials()
        self._stack = AsyncExitStack()
        self.client: Any = await self._stack.enter_async_context(
            get_session().create_client("sqs", region_name=REGION, endpoint_url=ENDPOINT)
        )
        suffix = uuid.uuid4().hex[:12]
        self.source_url = await self._create(f"contract-{suffix}")
        self.dead_letter_url = await self._create(f"contract-{suffix}-dlq")
        self._dead: dict[str, bytes] = {}

    async def _create(self, name: str) -> str:
        response = await self.client.create_queue(
            QueueName=name, Attributes={"VisibilityTimeout": str(VISIBILITY_TIMEOUT)}
        )
        return str(response["QueueUrl"])

    async def teardown(self) -> None:
        for url in (self.source_url, self.dead_letter_url):
            with suppress(Exception):
                await self.client.delete_queue(QueueUrl=url)
        await self._stack.aclose()

    async def publish(self, payloads: Sequence[bytes]) -> None:
        for start in range(0, len(payloads), 10):
            chunk = payloads[start : start + 10]
            entries = [
                {"Id": str(i), "MessageBody": payload.decode()} for i, payload in enumerate(chunk)
            ]
            response = await self.client.send_message_batch(
                QueueUrl=self.source_url, Entries=entries
            )
            assert not response.get("Failed"), response["Failed"]

    def options(self) -> Options:
        return Options(
            queue_url=self.source_url,
            endpoint_url=ENDPOINT,
            region=REGION,
            dead_letter=self.dead_letter_url,
            wait_time_seconds=1,
            backlog_interval=0,
        )

    def producer_options(self, concurrency: int = 1) -> ProducerOptions:
        return ProducerOptions(
            producer_factory(self.options(), demand=100), concurrency=concurrency
        )

    async def dead_lettered(self) -> list[bytes]:
        # Take what arrived since the last call (kept invisible, remembered here).
        while True:
            response = await self.client.receive_message(
                QueueUrl=self.dead_letter_url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=0,
                VisibilityTimeout=600,
            )
            messages = response.get("Messages") or []
            if not messages:
                break
            for message in messages:
                self._dead[message["MessageId"]] = message["Body"].encode()
        return list(self._dead.values())

    async def remaining(self) -> int:
        response = await self.client.get_queue_attributes(
            QueueUrl=self.source_url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )
        attributes = response["Attributes"]
        return sum(
            int(attributes.get(name, 0))
            for name in (
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            )
        )


HARNESS = SqsHarness
