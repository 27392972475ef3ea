"""SqsProducer: receives from one SQS queue as the pipeline's demand asks.

- ``fetch(demand)`` keeps ReceiveMessage calls in flight for what was asked
  and not yet received: 1 to 10 messages per call, several calls at once when
  the demand is larger (``max_concurrent_receives``). A call's messages that
  ``fetch`` did not hand out wait in a small buffer for the next ``fetch``.
- Long polling (``wait_time_seconds``) is cancelled by ``stop_fetching``: a
  drain never waits out a 20-second poll.
- An endpoint that cannot be reached, at start or later, is retried with
  capped, jittered backoff: one log line and one ``ProducerConnected(False)``
  per attempt, ``ProducerConnected(True)`` when it works again; ``fetch``
  waits meanwhile. Refused credentials or a missing queue raise from ``start``.
- Every received message is held in the :class:`Ledger` until its outcome is
  carried out; the :class:`Heartbeat` extends what stays in flight, and
  ``close`` makes what was never acknowledged visible again
  (``release_on_drain``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from contextlib import AsyncExitStack
from typing import Any

from broadway_py.connectors.sqs.acknowledger import SqsAcknowledger
from broadway_py.connectors.sqs.client import (
    ClientFactory,
    QueueInfo,
    SqsClient,
    aiobotocore_client_factory,
    describe_queue,
    queue_depth,
)
from broadway_py.connectors.sqs.dead_letter import plan_dead_letters
from broadway_py.connectors.sqs.errors import translate
from broadway_py.connectors.sqs.heartbeat import Heartbeat
from broadway_py.connectors.sqs.ledger import Ledger, Received, Stats
from broadway_py.connectors.sqs.options import Options
from broadway_py.connectors.toolkit import DemandBuffer, Link, Stop, keep_trying
from broadway_py.errors import BrokerUnavailable, ConfigurationError, ConnectorError
from broadway_py.message import Message
from broadway_py.telemetry import BacklogReported, Telemetry

log = logging.getLogger("broadway_py.connectors.sqs")

RELEASE_TIMEOUT = 10.0


class SqsProducer:
    """A producer over one SQS queue; its messages' acknowledger is :attr:`acknowledger`."""

    def __init__(
        self,
        options: Options,
        *,
        demand: int = 10,
        client_factory: ClientFactory | None = None,
    ) -> None:
        self.options = options
        self.receives_limit = options.receives_for(demand)
        self._client_factory = client_factory or aiobotocore_client_factory(
            options, pool_size=self.receives_limit + 10
        )
        self.ledger = Ledger()
        self.stats = Stats()
        self.queue: QueueInfo | None = None
        self.acknowledger: SqsAcknowledger | None = None
        self.heartbeat: Heartbeat | None = None
        self.connected = False
        self._client: SqsClient | None = None
        self._stack = AsyncExitStack()
        self._telemetry = Telemetry("sqs")
        self._clock = _no_clock
        self._visibility = 0
        self._receive_params: dict[str, Any] = {}
        self._buffer = DemandBuffer()
        self._receives: set[asyncio.Task[None]] = set()
        self._requested = 0
        self._stop = Stop()
        self._closed = False
        self._link = Link(options.reconnect, log, f"SQS queue {options.queue} not reachable")
        self._failure: ConnectorError | None = None
        self._fatal: BaseException | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._side_tasks: set[asyncio.Task[None]] = set()

    @property
    def receiving(self) -> int:
        """ReceiveMessage calls in flight now."""
        return len(self._receives)

    # -- Producer protocol ---------------------------------------------------------

    async def start(self, telemetry: Telemetry) -> None:
        """Connect; an unreachable endpoint is retried in the background."""
        self._telemetry = self._link.telemetry = telemetry
        self._clock = asyncio.get_running_loop().time
        try:
            self._client = await self._stack.enter_async_context(self._client_factory())
        except Exception as error:
            raise translate(error, self.options.queue, "creating the SQS client") from error
        try:
            await self._connect()
        except BrokerUnavailable as error:
            delay = self._link.failed(error)
            self._tasks.append(asyncio.create_task(self._connect_later(delay)))
        except BaseException:
            await self._stack.aclose()
            raise

    async def fetch(self, demand: int) -> list[Message]:
        buffer = self._buffer
        while not buffer.stopped:
            if self._fatal is not None:
                raise self._fatal
            if buffer:
                return buffer.take(demand)
            failure = self._failure
            if failure is not None:
                self._failure = None
                if not isinstance(failure, BrokerUnavailable):
                    raise failure
                await self._stop.pause(self._link.failed(failure))
                continue
            if self.connected:
                self._top_up(demand)
            await buffer.wait()
        return []

    def stop_fetching(self) -> None:
        if not self._buffer.stop():
            return
        self._stop.set()
        for task in self._receives:
            task.cancel()

    async def close(self) -> None:
        """Stop, then make what was received and never acknowledged visible again."""
        if self._closed:
            return
        self._closed = True
        self.stop_fetching()
        await _finish(list(self._receives))
        for task in self._tasks:
            task.cancel()
        await _finish(self._tasks)
        await _finish(list(self._side_tasks))
        held = self.ledger.take_all()
        self._buffer.clear()
        if held and self.options.release_on_drain and self.acknowledger is not None:
            try:
                async with asyncio.timeout(RELEASE_TIMEOUT):
                    await self.acknowledger.change_visibility([(r, 0) for r in held])
                self.stats.released += len(held)
            except Exception as error:
                log.warning("could not release %d messages on close: %r", len(held), error)
        self._link.down("closed")
        await self._stack.aclose()

    # -- connecting ----------------------------------------------------------------

    async def _connect(self) -> None:
        client = self._client
        assert client is not None
        options = self.options
        try:
            info = await describe_queue(client, options)
        except Exception as error:
            raise translate(error, options.queue, "opening the queue") from error
        visibility = options.visibility_timeout or info.visibility_timeout
        plan = await plan_dead_letters(client, options, info, visibility)
        clock = self._clock
        self.queue = info
        self._visibility = visibility
        self.acknowledger = SqsAcknowledger(
            client, info.url, info.name, plan, self.ledger, self.stats, self._telemetry, clock
        )
        params: dict[str, Any] = {
            "QueueUrl": info.url,
            "WaitTimeSeconds": options.wait_time_seconds,
            "MessageSystemAttributeNames": options.system_attribute_names(),
            "MessageAttributeNames": list(options.message_attribute_names),
        }
        if options.visibility_timeout is not None:
            params["VisibilityTimeout"] = options.visibility_timeout
        self._receive_params = params
        if options.heartbeat and visibility > 0:
            margin, extension = options.heartbeat_timing(visibility)
            if margin >= min(visibility, extension):
                raise ConfigurationError(
                    "heartbeat_margin",
                    f"must be below the visibility timeout ({visibility}s) and the extension "
                    f"({extension}s), not {margin}",
                )
            self.heartbeat = Heartbeat(
                client, info.url, info.name, self.ledger, self.stats, margin, extension, clock
            )
            self._tasks.append(asyncio.create_task(self.heartbeat.run()))
        if options.backlog_interval > 0:
            self._tasks.append(asyncio.create_task(self._report_backlog(client, info)))
        self.connected = True
        self._came_up()
        self._buffer.wake()

    async def _connect_later(self, delay: float) -> None:
        try:
            await keep_trying(self._connect, self._link, self._stop.pause, delay)
        except Exception as error:
            log.error("SQS queue %s: %s", self.options.queue, error)
            self._fatal = error
            self._buffer.wake()

    def _came_up(self) -> None:
        if self._link.connected:
            return
        failures = self._link.up()
        name = self.queue.name if self.queue else self.options.queue_label
        if failures:
            log.info("SQS queue %s reachable again after %d failed attempt(s)", name, failures)
        else:
            log.info("connected to SQS queue %s", name)

    # -- receiving -------------------------------------------------------------------

    def _top_up(self, demand: int) -> None:
        wanted = demand - len(self._buffer) - self._requested
        per_call = self.options.max_number_of_messages
        while wanted > 0 and len(self._receives) < self.receives_limit:
            count = min(per_call, wanted)
            self._requested += count
            wanted -= count
            self._receives.add(asyncio.create_task(self._receive(count)))

    async def _receive(self, count: int) -> None:
        task = asyncio.current_task()
        client = self._client
        assert client is not None
        assert task is not None
        sent_at = self._clock()
        try:
            self.stats.receive_calls += 1
            params = self._receive_params
            response = await client.receive_message(MaxNumberOfMessages=count, **params)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            if self._failure is None:
                self._failure = translate(error, self.options.queue, "ReceiveMessage")
            return
        finally:
            self._requested -= count
            self._receives.discard(task)
            self._buffer.wake()
        self._admit(response.get("Messages") or (), sent_at + self._visibility)
        self._came_up()

    def _admit(self, raw_messages: Iterable[dict[str, Any]], deadline: float) -> None:
        acknowledger = self.acknowledger
        assert acknowledger is not None
        ledger = self.ledger
        stats = self.stats
        buffer = self._buffer
        queue = acknowledger.queue_name
        redelete: list[Received] = []
        rerelease: list[Received] = []
        for raw in raw_messages:
            attributes: dict[str, str] = raw.get("Attributes") or {}
            message_attributes: dict[str, Any] = raw.get("MessageAttributes") or {}
            group_id = attributes.get("MessageGroupId")
            record = Received(
                raw["MessageId"],
                raw["ReceiptHandle"],
                raw.get("Body") or "",
                deadline,
                message_attributes,
                group_id,
                int(attributes.get("ApproximateReceiveCount") or 1),
            )
            seen = ledger.admit(record)
            if seen == "new":
                stats.received += 1
                buffer.append(
                    Message(
                        record.body.encode(),
                        acknowledger=acknowledger,
                        ack_data=record,
                        metadata={
                            "queue": queue,
                            "message_id": record.message_id,
                            "receipt_handle": record.receipt_handle,
                            "attributes": attributes,
                            "message_attributes": message_attributes,
                            "message_group_id": group_id,
                        },
                        attempt=record.attempt,
                        id=record.message_id,  # a retry changes visibility: the same MessageId
                    )
                )
            elif seen == "held":
                stats.duplicates += 1
            elif seen == "deleted":
                stats.redeliveries_deleted += 1
                redelete.append(record)
            else:
                stats.redeliveries_released += 1
                rerelease.append(record)
        if redelete:
            self._side(acknowledger.delete(redelete, quiet=True))
        if rerelease:
            self._side(acknowledger.change_visibility([(r, 0) for r in rerelease]))

    def _side(self, work: Any) -> None:
        task: asyncio.Task[None] = asyncio.create_task(work)
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    async def _report_backlog(self, client: SqsClient, info: QueueInfo) -> None:
        while True:
            if self._telemetry.enabled:
                try:
                    depth = await queue_depth(client, info.url)
                except asyncio.CancelledError:
                    raise
                except Exception as error:
                    log.debug("backlog of %s unknown: %r", info.name, error)
                else:
                    self._telemetry.emit(BacklogReported(info.name, depth))
            await asyncio.sleep(self.options.backlog_interval)


def _no_clock() -> float:
    raise RuntimeError("the producer was not started")


async def _finish(tasks: list[asyncio.Task[None]]) -> None:
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)
