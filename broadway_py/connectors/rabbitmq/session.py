"""Session: one connection to RabbitMQ and the channels the connector uses on it.

A session holds three channels on one connection:

- the *consumer* channel (basic.qos, basic.consume, and every ack, nack and
  reject: acks must go to the channel that delivered the message);
- a *publisher* channel with publisher confirms, for retries and dead letters
  (a publish counts only once the broker confirmed it);
- an *admin* channel for declarations and passive declares (a failed one
  closes its channel, so it must not be the consumer's).

When the connection or the consumer channel closes, the session is *lost*:
:attr:`Session.lost` resolves with the reason, and from then on every ack
meant for it is dropped (the broker redelivers those messages). A session is
never revived; the producer opens a new one. :attr:`Session.pending` counts
the messages handed to the pipeline and not yet settled, so the producer can
tell when the last ack meant for a lost session has come (and been dropped).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from aio_pika.abc import AbstractChannel, AbstractConnection
from aiormq import exceptions as amqp
from aiormq.abc import AbstractChannel as RawChannel
from aiormq.abc import DeliveredMessage
from pamqp.commands import Basic

from broadway_py.connectors.rabbitmq import naming
from broadway_py.connectors.rabbitmq.connection import connect
from broadway_py.connectors.rabbitmq.delays import at_least_once_supported, server_name
from broadway_py.connectors.rabbitmq.errors import describe, translate
from broadway_py.connectors.rabbitmq.options import Options
from broadway_py.connectors.rabbitmq.tags import DeliveryTracker
from broadway_py.errors import ConfigurationError

log = logging.getLogger("broadway_py.connectors.rabbitmq")

OnDelivery = Callable[["Session", DeliveredMessage], None]

CLOSE_TIMEOUT = 5.0


class PublishFailed(Exception):
    """The broker did not take a published copy (nacked, unroutable or channel gone)."""


class Session:
    """One connection, its channels, and the deliveries outstanding on it."""

    def __init__(self, options: Options, connection: AbstractConnection, generation: int) -> None:
        self.options = options
        self.connection = connection
        self.generation = generation
        self.tracker = DeliveryTracker()
        self.pending = 0  # handed to the pipeline, not yet settled (see the docstring)
        properties = _server_properties(connection)
        self.server = server_name(properties)
        self.at_least_once = at_least_once_supported(properties)
        self.consumer_tag = ""
        self.channel: RawChannel | None = None
        self.lost: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._ack_lock = asyncio.Lock()
        self._wrappers: list[AbstractChannel] = []
        self._publisher: RawChannel | None = None
        self._admin: RawChannel | None = None
        self._declared: set[str] = set()
        self._kept: dict[str, str] = {}  # delay queues that exist with other arguments
        self._declaring = asyncio.Lock()
        self._opening = asyncio.Lock()
        self._cancelled = False
        connection.close_callbacks.add(self._on_connection_closed)

    def __repr__(self) -> str:
        return f"Session({self.generation}, {'lost' if self.lost.done() else 'open'})"

    # -- opening -----------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        options: Options,
        *,
        generation: int,
        prefetch: int,
        consumer_tag: str,
        on_delivery: OnDelivery,
    ) -> Session:
        """Connect, declare, and start consuming; raises broadway_py errors."""
        connection = await connect(options)
        session = cls(options, connection, generation)
        try:
            async with asyncio.timeout(options.connect_timeout):
                await session._declare()
                await session._consume(prefetch, consumer_tag, on_delivery)
        except BaseException as error:
            await session.close("setup failed")
            if isinstance(error, Exception):
                raise translate(error, options) from error
            raise
        return session

    async def _open_channel(self, confirms: bool) -> RawChannel:
        wrapper = await self.connection.channel(
            publisher_confirms=confirms, on_return_raises=confirms
        )
        self._wrappers.append(wrapper)
        return await wrapper.get_underlay_channel()

    async def _admin_channel(self) -> RawChannel:
        async with self._opening:
            if self._admin is None or self._admin.is_closed:
                self._admin = await self._open_channel(confirms=False)
            return self._admin

    async def _publisher_channel(self) -> RawChannel:
        async with self._opening:
            if self._publisher is None or self._publisher.is_closed:
                self._publisher = await self._open_channel(confirms=True)
            return self._publisher

    async def _declare(self) -> None:
        options = self.options
        queue = options.queue
        declare = options.declare
        admin = await self._admin_channel()
        try:
            if declare is None or declare.passive:
                await admin.queue_declare(queue, passive=True)
            else:
                await admin.queue_declare(
                    queue,
                    durable=declare.durable,
                    auto_delete=declare.auto_delete,
                    arguments=declare.arguments or None,
                )
        except Exception as error:
            raise translate(error, options, queue=queue) from error
        for binding in options.bindings:
            admin = await self._admin_channel()
            try:
                if binding.exchange_type is not None:
                    await admin.exchange_declare(
                        binding.exchange, exchange_type=binding.exchange_type, durable=True
                    )
                for key in binding.routing_keys:
                    await admin.queue_bind(
                        queue,
                        binding.exchange,
                        routing_key=key,
                        arguments=binding.arguments or None,
                    )
            except Exception as error:
                raise translate(
                    error, options, exchange=binding.exchange, option="rabbitmq.bindings"
                ) from error
        dead = options.dead_letter
        if dead.strategy == "publish" and dead.declare:
            name = naming.dead_letter_queue(dead, queue)
            await self.declare_queue(name, None, option="rabbitmq.dead_letter")

    async def _consume(self, prefetch: int, consumer_tag: str, on_delivery: OnDelivery) -> None:
        channel = await self._open_channel(confirms=False)
        self.channel = channel
        channel.closing.add_done_callback(self._on_channel_closed)
        channel.on_consumer_cancel_callbacks.add(self._on_consumer_cancelled)
        await channel.basic_qos(prefetch_count=prefetch)

        async def deliver(message: DeliveredMessage) -> None:
            on_delivery(self, message)

        self.consumer_tag = consumer_tag
        await channel.basic_consume(self.options.queue, deliver, consumer_tag=consumer_tag)

    # -- loss ----------------------------------------------------------------------

    @property
    def usable(self) -> bool:
        return not self.lost.done()

    def mark_lost(self, reason: str) -> None:
        if not self.lost.done():
            self.lost.set_result(reason)

    def _on_connection_closed(self, _sender: Any, error: BaseException | None = None) -> None:
        self.mark_lost(f"connection closed: {describe(error)}" if error else "connection closed")

    def _on_channel_closed(self, closing: asyncio.Future[Any]) -> None:
        error = None if closing.cancelled() else closing.exception()
        self.mark_lost(f"channel closed: {describe(error)}" if error else "channel closed")

    def _on_consumer_cancelled(self, frame: Any) -> None:
        self.mark_lost(f"the broker cancelled the consumer of queue {self.options.queue!r}")

    # -- what the producer and the acknowledger call -----------------------------------

    async def cancel_consumer(self) -> None:
        """basic.cancel: the broker sends no more; acks still work."""
        channel = self.channel
        if self._cancelled or channel is None or not self.usable:
            return
        self._cancelled = True
        try:
            await channel.basic_cancel(self.consumer_tag, timeout=CLOSE_TIMEOUT)
        except Exception as error:
            log.debug("basic.cancel of %s failed: %s", self.consumer_tag, describe(error))

    async def message_count(self, queue: str) -> int:
        """Messages ready in ``queue``, by a raw passive queue.declare (never cached)."""
        admin = await self._admin_channel()
        declared = await admin.queue_declare(queue, passive=True)
        return int(declared.message_count or 0)

    async def declare_queue(
        self, name: str, arguments: dict[str, Any] | None, option: str = "rabbitmq.retry"
    ) -> None:
        """Declare a durable queue once per session."""
        if name in self._declared:
            return
        admin = await self._admin_channel()
        try:
            await admin.queue_declare(name, durable=True, arguments=arguments)
        except Exception as error:
            raise translate(error, self.options, queue=name, option=option) from error
        self._declared.add(name)

    async def declare_delay_queue(self, name: str, arguments: dict[str, Any]) -> str | None:
        """Declare a delay queue once per session.

        Returns None, or, when the queue exists with other arguments
        (PRECONDITION_FAILED, e.g. a classic delay queue of an earlier version),
        what the broker said: the queue is then used as it is.
        """
        if name in self._declared:
            return None
        async with self._declaring:  # a refused declare closes the admin channel: one at a time
            kept = self._kept.get(name)
            if kept is not None:
                return kept
            try:
                await self.declare_queue(name, arguments, option="rabbitmq.retry.delay_queue")
            except ConfigurationError as error:
                cause = error.__cause__
                detail = describe(cause) if cause is not None else ""
                if not isinstance(cause, amqp.ChannelPreconditionFailed) or (
                    "inequivalent arg" not in detail
                ):
                    raise
                self._kept[name] = detail
                return detail
        return None

    def forget_declared(self, name: str) -> None:
        """Declare ``name`` again before its next use (a publish to it failed)."""
        self._declared.discard(name)
        self._kept.pop(name, None)

    async def publish(self, routing_key: str, body: bytes, properties: Basic.Properties) -> None:
        """Publish through the default exchange and wait for the broker's confirm."""
        publisher = await self._publisher_channel()
        confirm = await publisher.basic_publish(
            body, routing_key=routing_key, properties=properties, mandatory=True
        )
        if not isinstance(confirm, Basic.Ack):
            raise PublishFailed(f"the broker did not confirm the copy for {routing_key!r}")

    async def settle(
        self, acks: list[int], requeue: list[int], reject: list[int]
    ) -> tuple[int, str]:
        """Send the acks, nacks and rejects; returns (messages dropped, why).

        Never raises: on a lost session (or one lost while sending) what was not
        sent is dropped, and the broker redelivers those messages.
        """
        total = len(acks) + len(requeue) + len(reject)
        async with self._ack_lock:
            channel = self.channel
            if channel is None or not self.usable:
                return total, self._why_lost()
            tracker = self.tracker
            sent = unknown = 0
            refusals = (
                (requeue, partial(channel.basic_nack, requeue=True, wait=False)),
                (reject, partial(channel.basic_reject, requeue=False, wait=False)),
            )
            try:
                for tags, refuse in refusals:
                    for tag in tags:
                        if tracker.forget((tag,)):
                            await refuse(tag)
                        else:
                            unknown += 1
                        sent += 1
                frames, skipped = tracker.settle(acks)
                unknown += skipped
                sent += skipped
                for tag, multiple, count in frames:
                    await channel.basic_ack(tag, multiple=multiple, wait=False)
                    sent += count
            except Exception as error:
                why = f"channel closed while acknowledging: {describe(error)}"
                self.mark_lost(why)  # the channel is gone: what follows is dropped too
                return total - sent, why
            if unknown:
                return unknown, "deliveries no longer outstanding on this channel"
            return 0, ""

    def _why_lost(self) -> str:
        if self.lost.done() and not self.lost.cancelled():
            return f"session lost ({self.lost.result()})"
        return "session not open"

    async def close(self, reason: str = "closed") -> None:
        """Close the connection: what was never acked goes back to the queue."""
        self.mark_lost(reason)
        self.tracker.clear()
        with contextlib.suppress(Exception, asyncio.TimeoutError):
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await self.connection.close()


def _server_properties(connection: AbstractConnection) -> dict[str, Any]:
    """The server properties of Connection.Start (product, version), or {}."""
    underlay = getattr(getattr(connection, "transport", None), "connection", None)
    properties = getattr(underlay, "server_properties", None)
    return dict(properties) if isinstance(properties, dict) else {}
