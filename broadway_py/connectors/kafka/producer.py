"""KafkaProducer: a consumer-group member feeding a pipeline.

One background task polls the aiokafka consumer (``getmany``, auto-commit
off) into the :class:`~.intake.Intake`, whose buffer ``fetch`` hands out.
When the pipeline stays full, partitions are *paused*, not the poll: the
member keeps polling and heartbeating, so a slow pipeline never gets it
evicted from its group. Records read from the retry topic wait in the intake
until their not-before time.

A second task commits explicit offsets every ``commit_interval`` (see
:mod:`.committer`): per partition, up to the highest contiguous done offset
(see :mod:`.offsets`); and reports consumer lag. A third watches the cluster.

On a rebalance (see :mod:`.rebalance`) revoked partitions stop being fed at
once, their in-flight messages get ``revoke_timeout`` to finish, their offsets
are committed, and only then are they let go. Acks that come later are
dropped: the new owner reads those messages again.

A broker that cannot be reached at start does not fail ``start``: the
connector retries in the background with capped, jittered backoff, reporting
``ProducerConnected(False, reason)`` and logging one line per attempt, while
``fetch`` waits. Refused credentials or a missing topic raise from ``start``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import zlib
from collections.abc import Hashable, Sequence, Set
from typing import Any

from broadway_py.acknowledger import count_decisions
from broadway_py.connectors.kafka.acknowledger import REWOUND, KafkaAcknowledger
from broadway_py.connectors.kafka.committer import Committer
from broadway_py.connectors.kafka.connection import Connection, connect
from broadway_py.connectors.kafka.errors import ConsumerStoppedError, translate
from broadway_py.connectors.kafka.intake import Intake
from broadway_py.connectors.kafka.message import Delivery
from broadway_py.connectors.kafka.offsets import OffsetTracker, PartitionOffsets
from broadway_py.connectors.kafka.options import Options
from broadway_py.connectors.kafka.publisher import Publisher
from broadway_py.connectors.kafka.rebalance import RebalanceListener
from broadway_py.connectors.toolkit import Link, Stop, keep_trying, resolve
from broadway_py.errors import AuthenticationFailed, BrokerUnavailable, ConnectorError
from broadway_py.message import Message
from broadway_py.ordering import same_for_ack_ref
from broadway_py.telemetry import (
    AcksDropped,
    BacklogReported,
    PartitionLagReported,
    Telemetry,
)

log = logging.getLogger("broadway_py.connectors.kafka")


class KafkaProducer:
    """Consumes ``options.topics`` (and the retry topic) as a member of ``options.group_id``."""

    def __init__(self, options: Options, *, buffer_size: int | None = None) -> None:
        self.options = options
        self.capacity = options.buffer_size or max(buffer_size or 0, options.max_poll_records)
        self.ordered = options.ordered
        self.redeliver_delay = options.reconnect.min_delay
        self.acknowledger = KafkaAcknowledger(self)
        self.tracker = OffsetTracker()
        retry_topic = None if options.ordered else options.retry_topic_name
        self.intake = Intake(self.capacity, retry_topic, self.tracker, self.acknowledger)
        self._committer: Committer | None = None
        self._listener = RebalanceListener(self)
        self._connection: Connection | None = None
        self._telemetry = Telemetry("kafka")
        self._link = Link(options.reconnect, log, "kafka: cannot connect")
        self._task: asyncio.Task[None] | None = None
        self._revoke_waiter: asyncio.Future[None] | None = None
        self._lag: dict[tuple[str, int], int] = {}
        self._fatal: ConnectorError | None = None
        self._closing = Stop()

    # -- the Producer protocol ---------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._link.connected

    async def start(self, telemetry: Telemetry) -> None:
        self._telemetry = self._link.telemetry = telemetry
        self._committer = Committer(self.tracker, self.options.commit_timeout, self.options.servers)
        first_error: BrokerUnavailable | None = None
        try:
            self._connected_to(await connect(self.options, self._listener))
        except BrokerUnavailable as error:
            first_error = error
        self._task = asyncio.create_task(self._main(first_error), name="broadway:kafka")

    async def fetch(self, demand: int) -> list[Message]:
        intake = self.intake
        while not intake.stopped:
            if intake.buffer:
                return intake.take(demand)
            if self._fatal is not None:
                raise self._fatal
            await intake.arrival.wait()
        return []

    def stop_fetching(self) -> None:
        self.intake.stop()

    async def close(self) -> None:
        if self._closing:
            return
        self.stop_fetching()
        self._closing.set()
        resolve(self._revoke_waiter, None)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        connection = self._connection
        if connection is not None and self._committer is not None:
            await self._committer.commit(connection.consumer, self.tracker.live(), "close")
            self.tracker.revoke_all()
            await connection.close(self.options.commit_timeout)
            self._connection = None
        self.intake.clear()
        self._link.down("closed")

    # -- what tests and /status may read ---------------------------------------------------

    def assignment(self) -> set[tuple[str, int]]:
        """The (topic, partition) pairs this member holds now."""
        return {(key.topic, key.partition) for key in self._held_keys()}

    def paused(self) -> set[tuple[str, int]]:
        """The (topic, partition) pairs paused now (pipeline full, rewinding, revoking...)."""
        return self.intake.paused()

    def lag(self) -> dict[tuple[str, int], int]:
        """Consumer lag per (topic, partition), as of the last commit tick."""
        return dict(self._lag)

    # -- the session the acknowledger and the rebalance listener drive ---------------------

    @property
    def publisher(self) -> Publisher | None:
        connection = self._connection
        return connection.publisher if connection is not None else None

    def acked(self, touched: set[PartitionOffsets]) -> None:
        if self._revoke_waiter is None:
            return
        waiting = any(offsets.revoking for offsets in touched)
        if waiting and not any(o.pending for o in self.tracker.live() if o.revoking):
            resolve(self._revoke_waiter, None)

    def acks_dropped(
        self, reason: str, successful: int = 0, failed: Sequence[Message] = ()
    ) -> None:
        count = successful + len(failed)
        # Reads after a rewind are how ordered mode retries: expected, so not logged as news.
        log.log(
            logging.DEBUG if reason == REWOUND else logging.INFO,
            "kafka: %d acks dropped: %s",
            count,
            reason,
        )
        if self._telemetry.enabled:
            retried, dead_lettered, discarded = count_decisions(failed)
            self._telemetry.emit(
                AcksDropped(count, reason, successful, retried, dead_lettered, discarded)
            )

    def rewind(
        self, offsets: PartitionOffsets, offset: int, delay: float, attempt: int | None
    ) -> None:
        """Read ``offsets``'s partition again from ``offset`` after ``delay`` seconds."""
        self.intake.rewind(offsets, offset, delay, attempt)

    async def partitions_revoked(self, partitions: Set[Any]) -> None:
        intake = self.intake
        intake.rebalancing = True
        revoking = [o for o in map(self.tracker.get, partitions) if o is not None]
        for offsets in revoking:
            offsets.revoking = True
            intake.forget(offsets)
        intake.apply_pauses()
        wait = 0.0 if self._closing else self.options.revoke_timeout
        started = time.monotonic()
        if wait and any(o.pending for o in revoking):
            self._revoke_waiter = asyncio.get_running_loop().create_future()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._revoke_waiter), wait)
            self._revoke_waiter = None
        left = sum(o.pending for o in revoking)
        self.tracker.revoke(o.key for o in revoking)
        committed = 0
        if self._committer is not None and self._connection is not None:
            consumer = self._connection.consumer
            committed = await self._committer.commit(consumer, revoking, "revoke")
        if revoking:
            log.info(
                "kafka: revoked %d partitions after %.2fs; committed %d offsets%s",
                len(revoking),
                time.monotonic() - started,
                committed,
                f"; {left} in-flight messages are left to the next owner" if left else "",
            )

    def partitions_assigned(self, partitions: Set[Any]) -> None:
        for offsets in self.tracker.live():
            if offsets.key not in partitions:  # not revoked first: let it go now
                self.tracker.revoke([offsets.key])
                self.intake.forget(offsets)
        self.tracker.assign(partitions)
        self.intake.rebalancing = False
        log.info(
            "kafka: assigned %s (generation %d)",
            ", ".join(sorted(f"{tp.topic}[{tp.partition}]" for tp in partitions)) or "nothing",
            self.tracker.generation,
        )
        self.intake.apply_pauses()

    # -- background work ---------------------------------------------------------------------

    async def _main(self, error: BrokerUnavailable | None) -> None:
        if self._connection is None:
            assert error is not None
            try:
                if not await keep_trying(
                    self._reconnect, self._link, self._closing.pause, self._link.failed(error)
                ):
                    return
            except AuthenticationFailed as refused:
                self._fail(refused)
                return
        connection = self._connection
        assert connection is not None
        self._link.up()
        tasks = [
            asyncio.create_task(self._commit_loop(), name="broadway:kafka-commit"),
            asyncio.create_task(self._watch(), name="broadway:kafka-watch"),
        ]
        try:
            await self._poll(connection.consumer)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _reconnect(self) -> None:
        """A background attempt: a missing topic is retried too (the cluster may be coming up)."""
        try:
            self._connected_to(await connect(self.options, self._listener))
        except (BrokerUnavailable, AuthenticationFailed):
            raise
        except ConnectorError as again:
            raise BrokerUnavailable(str(again)) from again

    def _connected_to(self, connection: Connection) -> None:
        self._connection = connection
        self.intake.consumer = connection.consumer

    async def _poll(self, consumer: Any) -> None:
        options = self.options
        intake = self.intake
        timeout_ms = int(min(0.5, options.commit_interval) * 1000)
        failures = 0
        while not self._closing:
            if intake.full and not intake.stalled:
                # The pipeline is full. Leave what the client prefetched where it
                # is for a while (pausing would throw it away); if the pipeline
                # stays full, pause every partition and keep polling, so the
                # member is never evicted for not polling.
                if not await intake.wait_drained(options.pause_after):
                    intake.stalled = True
                    log.info(
                        "kafka: the pipeline has been full for %.1fs; partitions paused",
                        options.pause_after,
                    )
                continue
            intake.apply_pauses()
            poll = intake.next_poll(options.max_poll_records)
            try:
                batches = None
                for partitions in poll.tries:  # those behind first, if they have records now
                    batches = await consumer.getmany(
                        *partitions, timeout_ms=0, max_records=poll.max_records
                    )
                    if batches:
                        break
                if not batches:
                    batches = await consumer.getmany(
                        timeout_ms=timeout_ms, max_records=poll.max_records
                    )
            except ConsumerStoppedError:
                return
            except Exception as error:
                translated = translate(error, f"polling Kafka at {options.servers}")
                if isinstance(translated, AuthenticationFailed):
                    self._fail(translated)
                    return
                failures += 1
                delay = options.reconnect.delay(failures)
                log.warning("kafka: %s; polling again in %.1fs", translated, delay)
                if await self._closing.pause(delay):
                    return
                continue
            failures = 0
            if batches:
                intake.ingest(batches)

    async def _commit_loop(self) -> None:
        committer, connection = self._committer, self._connection
        assert committer is not None
        assert connection is not None
        while not await self._closing.pause(self.options.commit_interval):
            await committer.commit(connection.consumer, self.tracker.live(), "interval")
            self._lag = committer.lag(connection.consumer)
            if self._telemetry.enabled:
                # A topic of which this member holds no partition (they went to other
                # members) is reported at 0: that closes its round, and the lag this
                # member reported for those partitions stops counting.
                held = {key.topic for key in self._held_keys()}
                per_topic = {t: 0 for t in self.options.subscribed_topics if t not in held}
                for (topic, partition), behind in self._lag.items():
                    per_topic[topic] = per_topic.get(topic, 0) + behind
                    self._telemetry.emit(PartitionLagReported(topic, partition, behind))
                for topic, behind in per_topic.items():
                    self._telemetry.emit(BacklogReported(topic, behind))

    async def _watch(self) -> None:
        """Ask the cluster for its metadata now and then; report the connection going away."""
        connection = self._connection
        assert connection is not None
        options = self.options
        failures = 0
        probe_timeout = min(options.request_timeout_ms / 1000, 10.0)
        while not self._closing:
            delay = options.probe_interval
            try:
                await asyncio.wait_for(connection.consumer.topics(), probe_timeout)
            except Exception as error:
                failures += 1
                delay = options.reconnect.delay(failures)
                reason = translate(error, f"Kafka at {options.servers} is unreachable")
                log.warning(
                    "kafka: %s (attempt %d); checking again in %.1fs", reason, failures, delay
                )
                self._link.down(str(reason))
            else:
                if failures:
                    log.info("kafka: %s answers again", options.servers)
                failures = 0
                self._link.up()
            if await self._closing.pause(delay):
                return

    # -- helpers --------------------------------------------------------------------------------

    def _held_keys(self) -> list[Any]:
        """The TopicPartitions this member holds now."""
        return [o.key for o in self.tracker.live()]

    def _fail(self, error: ConnectorError) -> None:
        log.error("kafka: %s", error)
        self._fatal = error
        self._link.down(str(error))
        self.intake.arrival.wake()

    def __repr__(self) -> str:
        return f"KafkaProducer(group={self.options.group_id!r}, topics={self.options.topics})"


@same_for_ack_ref
def partition_key(message: Message) -> Hashable:
    """The ordering key of a Kafka message: its topic and partition, as one integer.

    ``crc32(topic) + partition``: the processors (and batch processors) take a
    key modulo their count, so consecutive partitions of a topic go to
    distinct processors and N partitions keep N processors busy. A
    ``(topic, partition)`` tuple hashes at random: 4 partitions reached 4
    distinct processors of 4 in about 1 run in 10.

    Read from the message's delivery (see :mod:`.message`): one per fetched
    run. A message the connector did not fetch (``Pipeline.test_message``) is
    keyed by its metadata.
    """
    delivery = message.ack_ref
    key = delivery.key if type(delivery) is Delivery else _key_of(message.metadata)
    route = _ROUTES.get(key)
    if route is None:
        if len(_ROUTES) >= _MOST_ROUTES:
            _ROUTES.clear()
        topic, partition = key
        route = _ROUTES[key] = zlib.crc32(topic.encode()) + partition
    return route


def _key_of(metadata: dict[str, Any]) -> tuple[str, int]:
    return (metadata["topic"], metadata["partition"])


_ROUTES: dict[tuple[str, int], int] = {}
"""(topic, partition) -> its ordering key, worked out once (bounded by the partitions seen)."""
_MOST_ROUTES = 100_000
