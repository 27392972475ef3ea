"""RabbitMQProducer: consumes one queue into a buffer bounded by the prefetch count.

- ``start`` connects, declares and starts consuming. Wrong credentials, a
  missing queue or exchange, or a declaration that does not match raise at
  once (AuthenticationFailed, DestinationNotFound, ConfigurationError). A
  broker that cannot be reached does not fail the start: the producer keeps
  trying in the background with capped, jittered backoff, logging one line
  per attempt and reporting ``ProducerConnected(False, reason)``, while
  ``fetch`` waits.
- Deliveries go into a buffer; the broker never sends more than
  ``prefetch_count`` unacknowledged messages, which bounds it. ``fetch(demand)``
  hands out at most ``demand`` of them.
- When the connection (or the consumer channel) is lost, the buffer is
  dropped (the broker redelivers it), acks meant for the old channel are
  dropped and counted, and the producer reconnects with backoff. An outage
  reads as one line for the loss, one per failed attempt, and one for the
  dropped acks once the last one came (noise.py keeps aiormq's own lines out).
- On a server without at-least-once dead-lettering (before RabbitMQ 3.10)
  retries wait in classic delay queues, and the first connect warns that
  those are lost if the node restarts (delays.py).
- ``stop_fetching`` (drain) sends basic.cancel; the pipeline then finishes and
  acks what it holds; ``close`` closes the connection, so what was delivered
  and never acked goes back to the queue.
- Every ``backlog_interval`` seconds the queue depth is reported
  (BacklogReported) from a raw passive queue.declare, and deliveries left
  unacknowledged longer than ``consumer_timeout_warning`` are logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from typing import Any

from aiormq.abc import DeliveredMessage

from broadway_py.connectors.rabbitmq import noise
from broadway_py.connectors.rabbitmq.acknowledger import RabbitMQAcknowledger
from broadway_py.connectors.rabbitmq.attempts import attempt_of
from broadway_py.connectors.rabbitmq.delays import unsafe_server_warning
from broadway_py.connectors.rabbitmq.dropped import DroppedAcks
from broadway_py.connectors.rabbitmq.errors import FATAL, describe
from broadway_py.connectors.rabbitmq.options import Options
from broadway_py.connectors.rabbitmq.session import Session
from broadway_py.connectors.toolkit import DemandBuffer, Link, Stop, keep_trying
from broadway_py.errors import BroadwayError, BrokerUnavailable
from broadway_py.message import Message
from broadway_py.telemetry import AcksDropped, BacklogReported, Telemetry

log = logging.getLogger("broadway_py.connectors.rabbitmq")


_unsafe_warned: set[str] = set()  # servers warned about, once per process


def default_consumer_tag() -> str:
    return f"broadway_py.{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex[:8]}"


class RabbitMQProducer:
    """A producer over one RabbitMQ queue; also the owner of its acknowledger."""

    def __init__(self, options: Options, prefetch: int) -> None:
        self.options = options
        self.prefetch = prefetch
        self.consumer_tag = options.consumer_tag or default_consumer_tag()
        self.acknowledger = RabbitMQAcknowledger(
            options, self._acks_dropped, dropped_by=self._session_acks_dropped
        )
        self._outage: tuple[Session, DroppedAcks, str] | None = None
        self.connects = 0
        self.overdue_warnings = 0
        self._telemetry: Telemetry | None = None
        self._session: Session | None = None
        self._generation = 0
        self._buffer = DemandBuffer()
        self._link = Link(options.reconnect, log, "RabbitMQ not reachable")
        self._closing = Stop()
        self._fatal: BroadwayError | None = None
        self._runner: asyncio.Task[None] | None = None
        self._session_tasks: list[asyncio.Task[None]] = []
        self._cancelling: asyncio.Future[None] | None = None
        self._closing_sessions: set[asyncio.Task[None]] = set()
        self._queue = options.queue
        self._header = options.retry.attempt_header

    def __repr__(self) -> str:
        return f"RabbitMQProducer({self._queue!r} at {self.options.display_url})"

    @property
    def connected(self) -> bool:
        session = self._session
        return session is not None and session.usable

    # -- lifecycle ---------------------------------------------------------------

    async def start(self, telemetry: Telemetry) -> None:
        self._telemetry = self._link.telemetry = telemetry
        noise.install()
        delay: float | None = None
        try:
            await self._connect()
        except BrokerUnavailable as error:
            delay = self._link.failed(error)
        except FATAL as error:
            log.error("%s", error)
            self._link.down(str(error))
            raise
        self._runner = asyncio.create_task(
            self._keep_connected(delay), name=f"broadway:rabbitmq:{self._queue}"
        )

    async def fetch(self, demand: int) -> list[Message]:
        buffer = self._buffer
        while not buffer.stopped:
            if buffer:
                return buffer.take(demand)
            if self._fatal is not None:
                raise self._fatal.with_traceback(None)
            await buffer.wait()
        return []

    def stop_fetching(self) -> None:
        if not self._buffer.stop():
            return
        session = self._session
        if session is not None and session.usable:
            self._cancelling = asyncio.ensure_future(session.cancel_consumer())

    async def close(self) -> None:
        self.stop_fetching()
        self._closing.set()
        tasks = [t for t in (self._runner, *self._session_tasks) if t is not None]
        for task in tasks:
            task.cancel()
        for task in [*tasks, *self._closing_sessions]:  # lost connections finish closing (bounded)
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._cancelling is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._cancelling
        session, self._session = self._session, None
        self._buffer.clear()
        self._log_dropped()
        if session is not None:
            await session.close("producer closed")
            self._link.down("closed")

    # -- connecting ----------------------------------------------------------------

    async def _connect(self) -> None:
        self._generation += 1
        session = await Session.open(
            self.options,
            generation=self._generation,
            prefetch=self.prefetch,
            consumer_tag=self.consumer_tag,
            on_delivery=self._on_delivery,
        )
        if self._closing:
            await session.close("producer closed")
            return
        self._session = session
        self.connects += 1
        log.info(
            "connected to %s, consuming queue %r (prefetch %d, consumer %s)",
            self.options.display_url,
            self._queue,
            self.prefetch,
            self.consumer_tag,
        )
        self._link.up()
        self._warn_if_unsafe(session)
        self._session_tasks = [
            asyncio.create_task(self._watch(session), name=f"broadway:rabbitmq:watch:{self._queue}")
        ]
        if self._buffer.stopped:
            self._cancelling = asyncio.ensure_future(session.cancel_consumer())

    async def _keep_connected(self, delay: float | None) -> None:
        """Reconnect whenever the session is lost, until closed or a fatal error.

        ``delay``: the wait before the next attempt when the one in ``start``
        failed, None when it worked. After a loss the first attempt comes at once.
        """
        try:
            while delay is None or await keep_trying(
                self._connect, self._link, self._closing.pause, delay
            ):
                session = self._session
                if session is None:  # closed while connecting
                    return
                self._lost(session, await session.lost)
                delay = 0.0
        except FATAL as error:
            log.error("giving up on RabbitMQ: %s", error)
            self._fatal = error
            self._link.down(str(error))
            self._buffer.wake()

    def _lost(self, session: Session, reason: str) -> None:
        if self._session is session:
            self._session = None
        for task in self._session_tasks:
            task.cancel()
        self._session_tasks = []
        dropped = self._buffer.clear()
        session.pending -= dropped
        log.warning(
            "lost RabbitMQ at %s (%s); %d buffered messages left to the broker; reconnecting",
            self.options.display_url,
            reason,
            dropped,
        )
        self._link.down(reason)
        outage = self._outage
        if outage is not None and (outage[0] is not session or session.pending <= 0):
            self._log_dropped()  # an earlier outage's, or this one's if nothing is left in flight
        # Close what is left of the connection in the background.
        closing = asyncio.create_task(session.close(reason))
        self._closing_sessions.add(closing)
        closing.add_done_callback(self._closing_sessions.discard)

    # -- deliveries ----------------------------------------------------------------

    def _on_delivery(self, session: Session, delivered: DeliveredMessage) -> None:
        delivery: Any = delivered.delivery
        tag: int = delivery.delivery_tag
        session.tracker.add(tag, asyncio.get_running_loop().time())
        buffer = self._buffer
        if buffer.stopped or not session.usable:
            return  # held until the channel closes, then redelivered
        session.pending += 1
        properties = delivered.header.properties
        headers = properties.headers
        redelivered = bool(delivery.redelivered)
        attempt = (
            attempt_of(headers, redelivered, self._queue, self._header)
            if headers or redelivered
            else 1
        )
        metadata = {
            "queue": self._queue,
            "exchange": delivery.exchange,
            "routing_key": delivery.routing_key,
            "delivery_tag": tag,
            "redelivered": redelivered,
            "headers": headers or {},
            "content_type": properties.content_type,
            "message_id": properties.message_id,
            "correlation_id": properties.correlation_id,
            "timestamp": properties.timestamp,
        }
        buffer.append(
            Message(
                delivered.body,
                acknowledger=self.acknowledger,
                ack_ref=session,
                ack_data=delivered,
                metadata=metadata,
                attempt=attempt,
                id=properties.message_id,  # the publisher's; retry copies keep it (copies.py)
            )
        )
        buffer.wake()

    # -- background checks -----------------------------------------------------------

    async def _watch(self, session: Session) -> None:
        """Report the backlog and warn about deliveries held too long, periodically."""
        options = self.options
        warn_after = options.consumer_timeout_warning
        backlog_every = options.backlog_interval
        periods = [p for p in (backlog_every, warn_after and warn_after / 4) if p]
        if not periods:
            return
        tick = max(min(min(periods), 30.0), 0.05)
        loop = asyncio.get_running_loop()
        next_backlog = loop.time()
        while session.usable:
            now = loop.time()
            if backlog_every and now >= next_backlog:
                next_backlog = now + backlog_every
                await self._report_backlog(session)
            if warn_after:
                self._warn_overdue(session, now, warn_after)
            await asyncio.sleep(tick)

    async def _report_backlog(self, session: Session) -> None:
        telemetry = self._telemetry
        if telemetry is None or not telemetry.enabled:
            return
        try:
            count = await session.message_count(self._queue)
        except Exception as error:
            log.debug("queue depth of %r unavailable: %s", self._queue, describe(error))
            return
        telemetry.emit(BacklogReported(self._queue, count))

    def _warn_overdue(self, session: Session, now: float, limit: float) -> None:
        overdue = session.tracker.overdue(now, limit)
        if not overdue:
            return
        self.overdue_warnings += len(overdue)
        oldest_tag, oldest_age = overdue[0]
        log.warning(
            "%d messages of queue %r are unacknowledged for more than %.0fs (oldest: delivery "
            "tag %d, %.0fs); past the server's consumer_timeout (30 minutes by default) "
            "RabbitMQ closes the channel and redelivers everything it carried",
            len(overdue),
            self._queue,
            limit,
            oldest_tag,
            oldest_age,
        )

    # -- telemetry -------------------------------------------------------------------

    def _report(self, event: BacklogReported | AcksDropped) -> None:
        telemetry = self._telemetry
        if telemetry is not None and telemetry.enabled:
            telemetry.emit(event)

    def _warn_if_unsafe(self, session: Session) -> None:
        """One warning per server when retries would wait where a restart drops them."""
        if session.at_least_once or self.options.on_failure != "decision":
            return
        key = f"{self.options.display_url} {session.server}"
        if key not in _unsafe_warned:
            _unsafe_warned.add(key)
            log.warning("%s (%s)", unsafe_server_warning(session.server), self.options.display_url)

    def _acks_dropped(self, count: int, reason: str) -> None:
        """Acks dropped outside any session (not ours): reported at once."""
        log.warning("dropped %d acks (%s); the broker redelivers those messages", count, reason)
        self._report(AcksDropped(count, reason))

    def _session_acks_dropped(self, session: Session, dropped: DroppedAcks, reason: str) -> None:
        """Report at once; log one line per outage, once the lost session's last ack came."""
        self._report(
            AcksDropped(
                dropped.count,
                reason,
                successful=dropped.successful,
                retried=dropped.retried,
                dead_lettered=dropped.dead_lettered,
                discarded=dropped.discarded,
            )
        )
        if session.usable:  # acks for deliveries the channel no longer holds: a fault of ours
            log.warning(
                "dropped %d acks (%s): %s; the broker redelivers those messages",
                dropped.count,
                dropped.describe(),
                reason,
            )
            return
        outage = self._outage
        if outage is not None and outage[0] is not session:
            self._log_dropped()
            outage = None
        if outage is None:
            lost = session.lost.result() if session.lost.done() else reason
            outage = self._outage = (session, DroppedAcks(), lost)
        outage[1].add(dropped)
        if session.pending <= 0 and self._session is not session:
            self._log_dropped()  # the last ack meant for the lost session came

    def _log_dropped(self) -> None:
        """The one line for the acks dropped since the connection was lost."""
        outage, self._outage = self._outage, None
        if outage is None:
            return
        _, dropped, reason = outage
        log.info(
            "dropped %d acks (%s): connection lost (%s); the broker redelivers them",
            dropped.count,
            dropped.describe(),
            reason,
        )
