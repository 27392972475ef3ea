"""The aiobotocore client, and what the connector learns about its queues at connect.

:class:`SqsClient` names the few SQS calls the connector makes, so tests can
stand a fake in for aiobotocore's client. :func:`describe_queue` resolves the
source queue (and the dead-letter queue) and reads the attributes that decide
the connector's behaviour: visibility timeout, FIFO, redrive policy.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from aiobotocore.config import AioConfig  # type: ignore[import-untyped, unused-ignore]
from aiobotocore.session import AioSession  # type: ignore[import-untyped, unused-ignore]

from broadway_py.connectors.sqs.options import Options, queue_name_of


class SqsClient(Protocol):
    """The SQS calls the connector makes (aiobotocore's client has them all)."""

    async def get_queue_url(self, **kwargs: Any) -> dict[str, Any]: ...
    async def get_queue_attributes(self, **kwargs: Any) -> dict[str, Any]: ...
    async def receive_message(self, **kwargs: Any) -> dict[str, Any]: ...
    async def delete_message_batch(self, **kwargs: Any) -> dict[str, Any]: ...
    async def change_message_visibility_batch(self, **kwargs: Any) -> dict[str, Any]: ...
    async def send_message_batch(self, **kwargs: Any) -> dict[str, Any]: ...


ClientFactory = Callable[[], AbstractAsyncContextManager[SqsClient]]


def aiobotocore_client_factory(options: Options, pool_size: int) -> ClientFactory:
    """A factory of aiobotocore SQS clients for these options.

    botocore's own retries are off (the connector retries with its own backoff,
    and says so in the log once per attempt); the read timeout outlasts a long poll.
    """
    config = AioConfig(
        connect_timeout=options.connect_timeout,
        read_timeout=options.wait_time_seconds + 20,
        retries={"mode": "standard", "total_max_attempts": 1},
        max_pool_connections=pool_size,
    )

    def make() -> AbstractAsyncContextManager[SqsClient]:
        session = AioSession(profile=options.profile)
        made: AbstractAsyncContextManager[SqsClient] = session.create_client(
            "sqs",
            region_name=options.effective_region,
            endpoint_url=options.endpoint_url,
            config=config,
        )
        return made

    return make


@dataclass(frozen=True)
class QueueInfo:
    """The source queue as the connector uses it."""

    url: str
    name: str
    visibility_timeout: int
    fifo: bool
    max_receive_count: int | None
    dead_letter_target: str | None


async def resolve_queue_url(client: SqsClient, name_or_url: str) -> str:
    """The URL of a queue given by name or URL (a URL is checked by the next call)."""
    if "://" in name_or_url:
        return name_or_url
    response = await client.get_queue_url(QueueName=name_or_url)
    return str(response["QueueUrl"])


async def describe_queue(client: SqsClient, options: Options) -> QueueInfo:
    """Resolve the source queue and read its attributes (raises the client's errors)."""
    url = await resolve_queue_url(client, options.queue)
    response = await client.get_queue_attributes(
        QueueUrl=url, AttributeNames=["VisibilityTimeout", "FifoQueue", "RedrivePolicy"]
    )
    attributes: dict[str, str] = response.get("Attributes") or {}
    max_receive_count: int | None = None
    target: str | None = None
    raw_policy = attributes.get("RedrivePolicy")
    if raw_policy:
        policy = json.loads(raw_policy)
        max_receive_count = int(policy.get("maxReceiveCount", 0)) or None
        target = policy.get("deadLetterTargetArn")
    name = queue_name_of(url)
    fifo = attributes.get("FifoQueue", "").lower() == "true" or name.endswith(".fifo")
    return QueueInfo(
        url=url,
        name=name,
        visibility_timeout=int(attributes.get("VisibilityTimeout", "30")),
        fifo=fifo,
        max_receive_count=max_receive_count,
        dead_letter_target=target,
    )


async def queue_depth(client: SqsClient, url: str) -> int:
    """ApproximateNumberOfMessages of the queue."""
    response = await client.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
    )
    return int((response.get("Attributes") or {}).get("ApproximateNumberOfMessages", 0))
