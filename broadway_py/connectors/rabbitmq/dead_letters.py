"""The dead-letter queue, for ``broadway-py dlq``: read, replay and purge it.

The copies in it are the ones the acknowledger publishes (:mod:`.copies`): the
original body and properties, plus the reason, attempts, source queue and time
in ``x-broadway-*`` headers.

- **peek** takes messages with ``basic.get`` *without* acking them, then closes
  its channel, which hands every one back to the queue, in its place. Nothing
  is consumed. The caveats: while a list runs, the messages it holds are not
  delivered to anyone else, and each comes back with the ``redelivered`` flag
  set (a classic queue does not count deliveries, so nothing else changes).
- **replay** takes each message the same way; a chosen one is published to its
  source queue (default exchange) on a confirm channel, with the connector's
  own headers removed (so its next delivery is attempt 1), and only once the
  broker confirmed the copy is the dead letter acked. Messages not chosen stay
  unacked until the end, then go back with the channel. A replay killed between
  the confirm and the ack leaves that dead letter in the queue: the next replay
  sends it again (a duplicate, never a loss).
- **purge** is ``queue.purge`` (messages some consumer holds unacked stay).

A dead letter's id is its ``message_id`` property when the publisher set one,
else ``sha256:`` and 16 hex digits of its body, source, reason and time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage

from broadway_py.connectors.rabbitmq import naming
from broadway_py.connectors.rabbitmq.connection import connect
from broadway_py.connectors.rabbitmq.copies import (
    ATTEMPTS_HEADER,
    DEAD_AT_HEADER,
    PERSISTENT,
    REASON_HEADER,
    SOURCE_HEADER,
)
from broadway_py.connectors.rabbitmq.errors import translate
from broadway_py.connectors.rabbitmq.options import Options
from broadway_py.connectors.toolkit.dead_letters import (
    DeadLetter,
    NoDeadLetterDestination,
    Select,
)

_GET_TIMEOUT = 10.0
_BROKER_HEADERS = ("x-death", "x-delivery-count", "x-first-death-exchange",
                   "x-first-death-queue", "x-first-death-reason")  # fmt: skip


def _text(value: Any) -> str | None:
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    return value if isinstance(value, str) else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def read(message: AbstractIncomingMessage, position: int) -> DeadLetter:
    """A dead letter from a message of the dead-letter queue."""
    headers: Mapping[str, Any] = message.headers or {}
    attempts = _number(headers.get(ATTEMPTS_HEADER))
    reason = _text(headers.get(REASON_HEADER))
    source = _text(headers.get(SOURCE_HEADER))
    dead_at = _number(headers.get(DEAD_AT_HEADER))
    ident = message.message_id
    if not ident:
        digest = hashlib.sha256(message.body)
        digest.update(repr((source, reason, dead_at)).encode())
        ident = "sha256:" + digest.hexdigest()[:16]
    return DeadLetter(
        id=ident,
        attempts=None if attempts is None else int(attempts),
        reason=reason,
        source=source,
        dead_lettered_at=dead_at,
        payload=message.body,
        position=f"#{position}",
    )


def replay_headers(headers: Mapping[str, Any] | None, attempt_header: str) -> dict[str, Any]:
    """The headers of a replayed copy: without what counts or explains its attempts."""
    ours = {REASON_HEADER, ATTEMPTS_HEADER, SOURCE_HEADER, DEAD_AT_HEADER, attempt_header}
    return {k: v for k, v in (headers or {}).items() if k not in ours and k not in _BROKER_HEADERS}


class RabbitMQDeadLetters:
    """The dead-letter queue of a RabbitMQ pipeline."""

    def __init__(self, options: Options) -> None:
        if options.dead_letter.strategy != "publish":
            raise NoDeadLetterDestination(
                "dead_letter.strategy is 'reject': the queue's own dead-letter exchange "
                "routes dead letters, to a queue this pipeline file does not name"
            )
        self._options = options
        self._queue = naming.dead_letter_queue(options.dead_letter, options.queue)
        self._connection: AbstractConnection | None = None

    @property
    def destination(self) -> str:
        return f"RabbitMQ queue {self._queue!r} ({self._options.display_url})"

    async def _channel(self, confirms: bool) -> AbstractChannel:
        if self._connection is None:
            self._connection = await connect(self._options, self._queue)
        try:
            return await self._connection.channel(publisher_confirms=confirms)
        except Exception as error:
            raise translate(error, self._options, queue=self._queue) from error

    async def _queue_of(self, channel: AbstractChannel) -> aio_pika.abc.AbstractQueue:
        try:
            return await channel.get_queue(self._queue, ensure=True)
        except Exception as error:
            raise translate(error, self._options, queue=self._queue) from error

    async def peek(self, limit: int) -> list[DeadLetter]:
        channel = await self._channel(confirms=False)
        found: list[DeadLetter] = []
        try:
            queue = await self._queue_of(channel)
            while len(found) < limit:
                message = await queue.get(no_ack=False, fail=False, timeout=_GET_TIMEOUT)
                if message is None:
                    break
                found.append(read(message, len(found) + 1))
        finally:
            await channel.close()  # every message taken goes back, in its place
        return found

    async def replay(
        self,
        select: Select,
        *,
        limit: int | None = None,
        on_replayed: Callable[[DeadLetter], None] | None = None,
    ) -> int:
        channel = await self._channel(confirms=True)
        replayed = 0
        seen = 0
        attempt_header = self._options.retry.attempt_header
        try:
            queue = await self._queue_of(channel)
            while limit is None or replayed < limit:
                message = await queue.get(no_ack=False, fail=False, timeout=_GET_TIMEOUT)
                if message is None:
                    break
                seen += 1
                letter = read(message, seen)
                if letter.source is None or not select(letter):
                    continue  # left unacked: it goes back with the channel
                copy = aio_pika.Message(
                    message.body,
                    headers=replay_headers(message.headers, attempt_header),
                    content_type=message.content_type,
                    content_encoding=message.content_encoding,
                    delivery_mode=PERSISTENT,
                    priority=message.priority,
                    correlation_id=message.correlation_id,
                    reply_to=message.reply_to,
                    message_id=message.message_id,
                    timestamp=message.timestamp,
                    type=message.type,
                    app_id=message.app_id,
                )
                try:
                    await channel.default_exchange.publish(
                        copy, routing_key=letter.source, mandatory=True
                    )
                except Exception as error:
                    raise translate(error, self._options, queue=letter.source) from error
                await message.ack()  # only once the broker confirmed the copy
                replayed += 1
                if on_replayed is not None:
                    on_replayed(letter)
        finally:
            await channel.close()
        return replayed

    async def purge(self) -> int:
        channel = await self._channel(confirms=False)
        try:
            await self._queue_of(channel)
            raw = await channel.get_underlay_channel()
            purged = await raw.queue_purge(self._queue)
            return int(purged.message_count or 0)
        finally:
            await channel.close()

    async def close(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            await connection.close()


def open_dead_letters(options: Options) -> RabbitMQDeadLetters:
    return RabbitMQDeadLetters(options)
