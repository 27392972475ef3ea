"""The fault suite's RabbitMQ adapter: a quorum source queue, a dead-letter queue.

Why quorum: it is the queue type that keeps messages (and dead-letters them at
least once) through a node restart, and counts redeliveries. The queues of a
case (delay queues are made on demand) are listed with rabbitmqctl on the
node the adapter is given (tests/broker_scripts.py), so the same adapter
serves the shared node and a private one.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import aio_pika
import aiormq
from aio_pika.abc import AbstractConnection

from broadway_py.connectors.rabbitmq.naming import delay_queue
from broadway_py.connectors.rabbitmq.options import RetryOptions
from tests.broker_scripts import SHARED_RABBITMQ, RabbitMQNode
from tests.contract.harness_rabbitmq import raw_channel, read_queue
from tests.fault.workload import ids
from tests.integration.rabbitmq.support import Broker

QUORUM = {"x-queue-type": "quorum"}


def delay_queues(queue: str) -> list[str]:
    """Every delay queue a retry of up to a minute can wait in (one per power of two)."""
    return [delay_queue(RetryOptions(), queue, 1 << k) for k in range(17)]


class RabbitMQAdapter:
    name = "rabbitmq"

    def __init__(
        self,
        count: int,
        node: RabbitMQNode = SHARED_RABBITMQ,
        pipeline_url: str | None = None,
    ) -> None:
        self.count = count
        self.node = node
        self.url = node.url
        self.pipeline_url = pipeline_url or node.url
        self.env: dict[str, str] = {}
        self.queue = f"fault.{uuid.uuid4().hex[:10]}"
        self.dead_letter_queue = f"{self.queue}.dlq"
        self._connection: AbstractConnection | None = None

    async def _connect(self) -> AbstractConnection:
        if self._connection is None or not self._connection.connected.is_set():
            self._connection = await aio_pika.connect(self.url)
        return self._connection

    async def seed(self) -> None:
        broker = Broker(await self._connect())
        await broker.declare(self.queue, **QUORUM)
        await broker.declare(self.dead_letter_queue)
        await broker.publish(self.queue, [str(i).encode() for i in ids(self.count)])

    def producer(self) -> dict[str, Any]:
        return {
            "rabbitmq": {
                "url": self.pipeline_url,
                "queue": self.queue,
                "declare": {"durable": True, "arguments": QUORUM},
                "prefetch_count": 40,
                "reconnect": {"min_delay": 0.2, "max_delay": 1.0},
            }
        }

    def sections(self) -> dict[str, Any]:
        return {"dead_letter": {"destination": self.dead_letter_queue}}

    async def dead_letters(self) -> list[int]:
        try:
            bodies = await read_queue(await self._connect(), self.dead_letter_queue)
        except (ConnectionError, RuntimeError, aio_pika.exceptions.AMQPError):
            return []  # the node is restarting: this connection is gone, the next one is new
        return [int(body) for body in bodies]

    async def left(self) -> int:
        """Ready messages of the source and its delay queues, once no consumer holds any."""
        return await self._ready(lambda name: name != self.dead_letter_queue)

    async def retries_waiting(self) -> int:
        """Ready copies in the delay queues.

        Named from the connector's own rule (naming.py), not listed: a poll must
        be quick, and rabbitmqctl takes a second or more.
        """
        total = 0
        for name in delay_queues(self.queue):
            channel = await raw_channel(await self._connect(), confirms=False)
            try:
                declared = await channel.queue_declare(name, passive=True)
            except aiormq.exceptions.ChannelNotFoundEntity:
                continue  # not made yet: no retry took that delay so far
            total += declared.message_count or 0
            await channel.close()
        return total

    async def _ready(self, which: Callable[[str], bool]) -> int:
        """Ready messages of this case's queues that ``which`` selects.

        rabbitmqctl gives the names (delay queues are made on demand) but its
        counts of a quorum queue lag by seconds; a passive declare answers now.
        """
        names = [n for n in await self.node.depths() if n.startswith(self.queue) and which(n)]
        channel = await raw_channel(await self._connect(), confirms=False)
        try:
            total = 0
            for name in names:
                declared = await channel.queue_declare(name, passive=True)
                total += declared.message_count or 0
            return total
        finally:
            await channel.close()

    async def close(self) -> None:
        try:
            names = [n for n in await self.node.depths() if n.startswith(self.queue)]
            connection = await self._connect()
            channel = await connection.channel()
            for name in names:
                await channel.queue_delete(name, if_unused=False, if_empty=False)
        finally:
            if self._connection is not None:
                await self._connection.close()
