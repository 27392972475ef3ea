"""Helpers for the RabbitMQ integration tests: the server, queues, telemetry."""

from __future__ import annotations

import asyncio
import time
import urllib.parse
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import aio_pika
from aio_pika.abc import AbstractConnection
from aiormq.abc import DeliveredMessage
from pamqp.commands import Basic

from broadway_py import Pipeline, ProcessorOptions, ProducerOptions, RetryPolicy
from broadway_py.connectors.rabbitmq import Options, producer_factory
from broadway_py.telemetry import Event, Telemetry
from tests.broker_scripts import SHARED_RABBITMQ, RabbitMQNode
from tests.contract.harness_rabbitmq import raw_channel, read_queue

URL = SHARED_RABBITMQ.url
PERSISTENT = Basic.Properties(delivery_mode=2)

__all__ = [
    "URL",
    "Broker",
    "Events",
    "raw_channel",
    "read_queue",
]


def url_via(port: int, password: str | None = None) -> str:
    """The broker URL with another port (a proxy) or password."""
    parts = urllib.parse.urlsplit(URL)
    user = parts.username or "guest"
    secret = password if password is not None else (parts.password or "guest")
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:{secret}@127.0.0.1:{port}"))


def broker_port() -> int:
    return urllib.parse.urlsplit(URL).port or 5672


class Broker:
    """A connection for the test itself: publish, read and count queues."""

    def __init__(
        self, connection: AbstractConnection, node: RabbitMQNode = SHARED_RABBITMQ
    ) -> None:
        self.connection = connection
        self.url = node.url
        self.depths = node.depths
        self.made: list[str] = []

    @classmethod
    async def connect(cls, node: RabbitMQNode = SHARED_RABBITMQ) -> Broker:
        """A connection to the shared server, or to a private node."""
        return cls(await aio_pika.connect(node.url), node)

    def name(self, prefix: str = "it") -> str:
        queue = f"{prefix}.{uuid.uuid4().hex[:10]}"
        self.made.append(queue)
        return queue

    async def declare(self, queue: str, **arguments: Any) -> None:
        channel = await raw_channel(self.connection, confirms=False)
        await channel.queue_declare(queue, durable=True, arguments=arguments or None)
        await channel.close()

    async def publish(
        self, queue: str, payloads: Sequence[bytes], headers: dict[str, Any] | None = None
    ) -> None:
        channel = await raw_channel(self.connection)
        properties = Basic.Properties(delivery_mode=2, headers=headers)
        for start in range(0, len(payloads), 500):
            await asyncio.gather(
                *(
                    channel.basic_publish(p, routing_key=queue, properties=properties)
                    for p in payloads[start : start + 500]
                )
            )
        await channel.close()

    async def reconnect(self) -> None:
        """A new connection, when a restart of the server closed this one."""
        if not self.connection.connected.is_set():
            self.connection = await aio_pika.connect(self.url)

    async def read(self, queue: str) -> list[bytes]:
        return await read_queue(self.connection, queue)

    async def get_all(self, queue: str) -> list[DeliveredMessage]:
        """Every message of ``queue`` (bodies and properties), left in place."""
        channel = await raw_channel(self.connection, confirms=False)
        found: list[DeliveredMessage] = []
        try:
            while True:
                got = await channel.basic_get(queue, no_ack=False)
                if not isinstance(got.delivery, Basic.GetOk):
                    return found
                found.append(got)
        finally:
            await channel.close()

    async def held(self, prefix: str) -> int:
        """Ready + unacked in every queue whose name starts with ``prefix`` (but DLQs)."""
        return sum(
            ready + unacked
            for name, (ready, unacked) in (await self.depths()).items()
            if name.startswith(prefix) and not name.endswith(".dlq")
        )

    async def cleanup(self) -> None:
        await self.reconnect()  # a test may have restarted the server
        try:
            names = [n for n in await self.depths() if any(n.startswith(m) for m in self.made)]
            channel = await raw_channel(self.connection, confirms=False)
            for name in names:
                await channel.queue_delete(name, if_unused=False, if_empty=False)
        finally:
            await self.connection.close()


class Events:
    """Records telemetry events of a pipeline, with when they came (monotonic clock)."""

    def __init__(self, telemetry: Telemetry) -> None:
        self.timed: list[tuple[float, Event]] = []
        telemetry.subscribe(self._record)

    def _record(self, event: Event) -> None:
        self.timed.append((time.monotonic(), event))

    @property
    def events(self) -> list[Event]:
        return [e for _, e in self.timed]

    def of(self, kind: type[Any]) -> list[Any]:
        return [e for _, e in self.timed if isinstance(e, kind)]

    def times_of(
        self, kind: type[Any], where: Callable[[Any], bool] = lambda e: True
    ) -> list[float]:
        return [t for t, e in self.timed if isinstance(e, kind) and where(e)]


def options(queue: str, **fields: Any) -> Options:
    """Options for tests: fast reconnects, the queue declared durable."""
    base: dict[str, Any] = {
        "url": URL,
        "queue": queue,
        "declare": {"durable": True},
        "reconnect": {"min_delay": 0.1, "max_delay": 1.0},
    }
    base.update(fields)
    return Options.model_validate(base)


def pipeline_on(
    node: RabbitMQNode, queue: str, handler: Any, **fields: Any
) -> tuple[Pipeline, Events]:
    """A pipeline of 4 processors on ``queue`` of ``node`` that reconnects within a second.

    ``fields`` are more connector options, and ``retry`` the retry policy.
    Returns it with the recorder of its telemetry events.
    """
    retry: RetryPolicy | None = fields.pop("retry", None)
    telemetry = Telemetry("it")
    events = Events(telemetry)
    opts = options(
        queue,
        url=node.url,
        reconnect={"min_delay": 0.2, "max_delay": 1.0},
        backlog_interval=None,
        **fields,
    )
    pipeline = Pipeline(
        "it",
        handler,
        ProducerOptions(producer_factory(opts, demand=20)),
        ProcessorOptions(concurrency=4, max_demand=5),
        retry=retry,
        telemetry=telemetry,
    )
    return pipeline, events
