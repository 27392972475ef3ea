"""The RabbitMQ connector's contract harness, against the server of scripts/brokers/rabbitmq.sh.

Each test gets its own durable queue (and dead-letter queue). ``remaining``
counts, from the broker itself (``rabbitmqctl list_queues``, no management
plugin: tests/broker_scripts.py), what the source queue and its delay queues still hold, ready or
unacknowledged; ``dead_lettered`` reads the dead-letter queue with basic.get
on a channel that is then closed, so the messages stay there.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

import aio_pika
from aio_pika.abc import AbstractConnection
from aiormq.abc import AbstractChannel as RawChannel
from pamqp.commands import Basic

from broadway_py import ProducerOptions
from broadway_py.connectors.rabbitmq import (
    DeclareOptions,
    Options,
    ReconnectOptions,
    producer_factory,
)
from tests.broker_scripts import SHARED_RABBITMQ
from tests.contract.harness import ConnectorHarness

URL = SHARED_RABBITMQ.url


async def raw_channel(connection: AbstractConnection, confirms: bool = True) -> RawChannel:
    channel = await connection.channel(publisher_confirms=confirms)
    return await channel.get_underlay_channel()


async def read_queue(connection: AbstractConnection, queue: str) -> list[bytes]:
    """Every message in ``queue``, left in place (got without ack, then released)."""
    channel = await raw_channel(connection, confirms=False)
    bodies: list[bytes] = []
    try:
        while True:
            got = await channel.basic_get(queue, no_ack=False)
            if not isinstance(got.delivery, Basic.GetOk):
                return bodies
            bodies.append(got.body)
    finally:
        await channel.close()


class RabbitMQHarness(ConnectorHarness):
    name = "rabbitmq"
    patience = 30.0
    retry_delay = 0.1

    async def setup(self) -> None:
        self.queue = f"contract.{uuid.uuid4().hex[:12]}"
        self.dead_letter_queue = f"{self.queue}.dlq"
        self.connection = await aio_pika.connect(URL)
        self.channel = await raw_channel(self.connection)
        for name in (self.queue, self.dead_letter_queue):
            await self.channel.queue_declare(name, durable=True)
        self.options = Options(
            url=URL,  # type: ignore[arg-type]
            queue=self.queue,
            declare=DeclareOptions(durable=True),
            reconnect=ReconnectOptions(min_delay=0.1, max_delay=1.0),
        )

    async def teardown(self) -> None:
        try:
            names = [n for n in await SHARED_RABBITMQ.depths() if n.startswith(self.queue)]
            channel = await raw_channel(self.connection, confirms=False)
            for name in names:
                await channel.queue_delete(name, if_unused=False, if_empty=False)
        finally:
            await self.connection.close()

    async def publish(self, payloads: Sequence[bytes]) -> None:
        """Persistent, each with a ``message_id`` of its own (``message.id``)."""
        await asyncio.gather(
            *(
                self.channel.basic_publish(
                    p,
                    routing_key=self.queue,
                    properties=Basic.Properties(delivery_mode=2, message_id=uuid.uuid4().hex),
                )
                for p in payloads
            )
        )

    def producer_options(self, concurrency: int = 1) -> ProducerOptions:
        return ProducerOptions(producer_factory(self.options, demand=20), concurrency=concurrency)

    async def dead_lettered(self) -> list[bytes]:
        return await read_queue(self.connection, self.dead_letter_queue)

    async def remaining(self) -> int:
        depths = await SHARED_RABBITMQ.depths()
        dead = self.dead_letter_queue
        return sum(
            ready + unacked
            for name, (ready, unacked) in depths.items()
            if name == self.queue or (name.startswith(f"{self.queue}.") and name != dead)
        )


HARNESS = RabbitMQHarness
