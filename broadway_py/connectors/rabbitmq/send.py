"""``broadway-py send`` for RabbitMQ: persistent messages, with publisher confirms.

Without a key a message goes straight to the source queue (the default
exchange, the queue's name as routing key). With one it goes to the exchange of
the queue's first binding with the key as routing key, as the pipeline's
publishers would send it; a queue without bindings takes no key. Headers are
AMQP headers. Every publish is mandatory: one no queue takes is an error, never
silently dropped. :meth:`RabbitMQSender.send` returns once the broker confirmed
every message of the batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange

from broadway_py.connectors.rabbitmq.connection import connect
from broadway_py.connectors.rabbitmq.errors import describe, translate
from broadway_py.connectors.rabbitmq.options import Options
from broadway_py.connectors.toolkit.sending import Outbound
from broadway_py.errors import ConnectorError


class RabbitMQSender:
    def __init__(self, channel: AbstractChannel, options: Options) -> None:
        self.channel = channel
        self.options = options
        self._bound: AbstractExchange | None = None

    async def _exchange(self, keyed: bool) -> tuple[AbstractExchange, str | None]:
        """The exchange to publish to, and the fixed routing key (None: each message's key)."""
        if not keyed:
            return self.channel.default_exchange, self.options.queue
        if not self.options.bindings:
            raise ConnectorError(
                f"a key is a routing key on the exchange of the queue's first binding; "
                f"queue {self.options.queue!r} has no bindings"
            )
        if self._bound is None:
            name = self.options.bindings[0].exchange
            self._bound = await self.channel.get_exchange(name, ensure=True)
        return self._bound, None

    async def send(self, batch: Sequence[Outbound]) -> int:
        publishes = []
        for item in batch:
            exchange, fixed = await self._exchange(item.key is not None)
            message = aio_pika.Message(
                item.body,
                headers=dict(item.headers) or None,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            )
            publishes.append(exchange.publish(message, fixed or item.key or "", mandatory=True))
        results = await asyncio.gather(*publishes, return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            error = failed[0]
            if isinstance(error, aio_pika.exceptions.DeliveryError):
                raise ConnectorError(
                    f"RabbitMQ did not take {len(failed)} of {len(batch)} messages "
                    f"(unroutable or refused): {describe(error)}"
                )
            raise translate(error, self.options, queue=self.options.queue) from None
        return len(results)


@asynccontextmanager
async def open_sender(options: Options) -> AsyncIterator[RabbitMQSender]:
    """A sender on a channel with publisher confirms; the connection closed on exit."""
    connection = await connect(options)
    try:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        yield RabbitMQSender(channel, options)
    finally:
        await connection.close()
