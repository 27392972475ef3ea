"""PipelineStats: plain counters kept up to date from a pipeline's telemetry.

A telemetry subscriber that only adds integers: it is called once per chunk,
batch or ack group, never per message, and never raises into the stage that
emitted the event. The Prometheus collector, ``/readyz`` and ``/status`` all
read from one PipelineStats, so they always agree.

State a producer reports (its connection, its part of a backlog) is kept per
producer instance (the ``producer`` the pipeline stamps on those events), so
with ``producer.concurrency`` above 1 one producer's report never hides
another's (backlog.py says how reports of one source combine). What is
received and what acks were dropped is also kept per producer instance
(``received_by_producer``, ``acks_dropped_by_producer``), for the per-producer
series of a pipeline with several named producers.

Failed messages are counted (``failures``) and the newest few kept, described
(``recent_failures``: at most ``RECENT_FAILURES``, each dated with the wall
clock), from the ``MessagesFailed`` reports, which come only for failures.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from broadway_py.metrics.backlog import Backlog
from broadway_py.metrics.histogram import BATCH_SECONDS, BATCH_SIZES, MESSAGE_SECONDS, Buckets
from broadway_py.telemetry import (
    AckFailed,
    AcksDropped,
    BacklogReported,
    BatchHandled,
    Event,
    FailureSample,
    HandlerAbandoned,
    MessagesAcked,
    MessagesFailed,
    MessagesHandled,
    MessagesReceived,
    PartitionLagReported,
    ProducerConnected,
    RateLimiterWaited,
    StageRestarted,
)

log = logging.getLogger("broadway_py.metrics")

ACK_OUTCOMES = ("successful", "retried", "dead_lettered", "discarded")
STAGE_GROUPS = ("producer", "processor", "batcher")
RECENT_FAILURES = 20
"""Described failures ``PipelineStats.recent_failures`` keeps, the newest."""


@dataclass
class Connection:
    """What a producer last said about its connection."""

    connected: bool
    reason: str
    since: float


class AckLedger:
    """Messages whose outcome their broker was told, per outcome.

    Stages report what they handed to acknowledgers (``MessagesAcked``);
    connectors report the acks they could not deliver (``AcksDropped``, split
    per outcome). The broker was told the difference. A drop is taken off the
    hand-overs counted after it, never off a count already made, so the totals
    never go down, as a Prometheus counter must not. Connectors report a drop
    from within their ``ack`` call, before the stage reports that hand-over,
    so the totals are exact; a drop reported later is taken off the next
    hand-overs of the same outcome (the broker redelivers the message, and its
    next ack is the one the broker is told).
    """

    __slots__ = ("owed", "told")

    def __init__(self) -> None:
        self.told = dict.fromkeys(ACK_OUTCOMES, 0)
        self.owed = dict.fromkeys(ACK_OUTCOMES, 0)

    def handed(self, counts: tuple[int, int, int, int]) -> None:
        """Count messages handed to acknowledgers, in the order of ``ACK_OUTCOMES``."""
        told = self.told
        owed = self.owed
        for outcome, count in zip(ACK_OUTCOMES, counts, strict=True):
            debt = owed[outcome]
            if debt:
                paid = min(debt, count)
                owed[outcome] = debt - paid
                count -= paid
            told[outcome] += count

    def dropped(self, event: AcksDropped) -> None:
        counts = (event.successful, event.retried, event.dead_lettered, event.discarded)
        owed = self.owed
        for outcome, count in zip(ACK_OUTCOMES, counts, strict=True):
            owed[outcome] += max(count, 0)


@dataclass(frozen=True, slots=True)
class RecentFailure:
    """A failed message as reported (``sample``), by ``stage``, at unix time ``at``."""

    at: float
    stage: str
    sample: FailureSample


@dataclass
class BatcherStats:
    batches: int = 0
    messages: int = 0
    failed: int = 0
    seconds: Buckets = field(default_factory=lambda: Buckets(BATCH_SECONDS))
    sizes: Buckets = field(default_factory=lambda: Buckets(BATCH_SIZES))


class PipelineStats:
    """Counters fed by telemetry events; call it with each event.

    ``clock`` (monotonic seconds) dates progress and backlog for the stall
    check; ``wall_clock`` (unix seconds) dates the last ack for Prometheus.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.clock = clock
        self.wall_clock = wall_clock
        self.started_at_unix = wall_clock()
        self.received = 0
        self.received_by_producer: dict[int, int] = {}
        self.processed_ok = 0
        self.processed_failed = 0
        self.ledger = AckLedger()
        self.acked = self.ledger.told
        # What each stage handed to acknowledgers (dropped acks not taken off).
        self.acked_by_stage: dict[str, dict[str, int]] = {}
        self.stages: dict[str, dict[str, int]] = {}
        self.restarts = dict.fromkeys(STAGE_GROUPS, 0)
        self.last_restart: str | None = None
        self.rate_limiter_wait = 0.0
        self.handler_abandoned = 0
        self.ack_failures = 0
        self.last_ack_failure: str | None = None
        self.acks_dropped = 0
        self.acks_dropped_by_producer: dict[int, int] = {}
        self.last_progress_at: float | None = None
        self.last_progress_unix: float | None = None
        self.producers: dict[int, Connection] = {}
        self._backlog_book = Backlog()
        self.backlog = self._backlog_book.by_source
        self.backlog_since: float | None = None
        self.message_seconds = Buckets(MESSAGE_SECONDS)
        self.batchers: dict[str, BatcherStats] = {}
        self.failures = 0
        self.recent_failures: deque[RecentFailure] = deque(maxlen=RECENT_FAILURES)
        self._failing: set[type[Any]] = set()
        self._dispatch: dict[type[Any], Callable[[Any], None]] = {
            MessagesReceived: self._received,
            MessagesHandled: self._handled,
            BatchHandled: self._batch,
            MessagesAcked: self._acked,
            MessagesFailed: self._failed,
            AckFailed: self._ack_failed,
            AcksDropped: self._acks_dropped,
            RateLimiterWaited: self._waited,
            HandlerAbandoned: self._abandoned,
            StageRestarted: self._restarted,
            ProducerConnected: self._connected,
            BacklogReported: self._backlog,
            PartitionLagReported: self._partition_lag,
        }

    def __call__(self, event: Event) -> None:
        handle = self._dispatch.get(type(event))
        if handle is None:
            return  # an event added to core after this exporter: ignore it
        try:
            handle(event)
        except Exception:
            # Never raise into the stage that emitted; log each kind of failure once.
            if type(event) not in self._failing:
                self._failing.add(type(event))
                log.exception("metrics could not count %r (reported once per event type)", event)

    # -- what readers ask --------------------------------------------------------

    @property
    def connected(self) -> bool | None:
        """True when every producer that reported is connected; None before any report."""
        if not self.producers:
            return None
        return all(c.connected for c in self.producers.values())

    def disconnected_reasons(self) -> list[str]:
        reasons = []
        for key, connection in sorted(self.producers.items()):
            if not connection.connected:
                reasons.append(f"producer {key}: {connection.reason or 'disconnected'}")
        return reasons

    def per_producer(self, names: list[str]) -> dict[str, dict[str, int]]:
        """Received, acks dropped and instances disconnected, per named producer.

        ``names`` is the name of each producer instance, by its index
        (``Pipeline.producer_names``); every name is there, at 0 until counted.
        """
        counts = {
            name: {"received": 0, "acks_dropped": 0, "disconnected": 0, "instances": 0}
            for name in names
        }
        for index, name in enumerate(names):
            row = counts[name]
            row["instances"] += 1
            row["received"] += self.received_by_producer.get(index, 0)
            row["acks_dropped"] += self.acks_dropped_by_producer.get(index, 0)
            connection = self.producers.get(index)
            if connection is not None and not connection.connected:
                row["disconnected"] += 1
        return counts

    @property
    def backlog_total(self) -> int:
        return self._backlog_book.total

    def partition_lags(self) -> dict[str, dict[int, int]]:
        """The latest lag of each partition of a partitioned source (see backlog.py)."""
        return self._backlog_book.partition_lags()

    def progress_age(self, now: float | None = None) -> float | None:
        """Seconds since the last ack; None if nothing was acked yet."""
        if self.last_progress_at is None:
            return None
        return max((self.clock() if now is None else now) - self.last_progress_at, 0.0)

    def newest_failures(self) -> list[RecentFailure]:
        """The failures kept (``recent_failures``), newest first."""
        return list(reversed(self.recent_failures))

    def batcher(self, name: str) -> BatcherStats:
        stats = self.batchers.get(name)
        if stats is None:
            stats = self.batchers[name] = BatcherStats()
        return stats

    # -- event handlers ------------------------------------------------------------

    def _stage(self, name: str) -> dict[str, int]:
        counters = self.stages.get(name)
        if counters is None:
            counters = self.stages[name] = {}
        return counters

    def _received(self, event: MessagesReceived) -> None:
        self.received += event.count
        by_producer = self.received_by_producer
        by_producer[event.producer] = by_producer.get(event.producer, 0) + event.count
        counters = self._stage(f"producer_{event.producer}")
        counters["received"] = counters.get("received", 0) + event.count

    def _handled(self, event: MessagesHandled) -> None:
        self.processed_ok += event.successful
        self.processed_failed += event.failed
        counters = self._stage(f"processor_{event.processor}")
        counters["ok"] = counters.get("ok", 0) + event.successful
        counters["failed"] = counters.get("failed", 0) + event.failed
        if event.durations:
            self.message_seconds.observe_many(event.durations)

    def _batch(self, event: BatchHandled) -> None:
        stats = self.batcher(event.batcher)
        stats.batches += 1
        stats.messages += event.size
        stats.failed += event.failed
        stats.seconds.observe(event.duration)
        stats.sizes.observe(event.size)

    def _acked(self, event: MessagesAcked) -> None:
        counts = (event.successful, event.retried, event.dead_lettered, event.discarded)
        self.ledger.handed(counts)
        per_stage = self.acked_by_stage.get(event.stage)
        if per_stage is None:
            per_stage = self.acked_by_stage[event.stage] = dict.fromkeys(ACK_OUTCOMES, 0)
        for outcome, count in zip(ACK_OUTCOMES, counts, strict=True):
            per_stage[outcome] += count
        if any(counts):
            self.last_progress_at = self.clock()
            self.last_progress_unix = self.wall_clock()

    def _failed(self, event: MessagesFailed) -> None:
        self.failures += event.count
        at = self.wall_clock()
        recent = self.recent_failures
        for sample in event.samples:
            recent.append(RecentFailure(at, event.stage, sample))

    def _ack_failed(self, event: AckFailed) -> None:
        self.ack_failures += 1
        self.last_ack_failure = f"{event.stage}: {event.error}"

    def _acks_dropped(self, event: AcksDropped) -> None:
        self.acks_dropped += event.count
        by_producer = self.acks_dropped_by_producer
        by_producer[event.producer] = by_producer.get(event.producer, 0) + event.count
        self.ledger.dropped(event)

    def _waited(self, event: RateLimiterWaited) -> None:
        self.rate_limiter_wait += event.seconds

    def _abandoned(self, event: HandlerAbandoned) -> None:
        self.handler_abandoned += event.count

    def _restarted(self, event: StageRestarted) -> None:
        self.restarts[event.group] = self.restarts.get(event.group, 0) + 1
        self.last_restart = event.reason
        counters = self._stage(event.stage)
        counters["restarts"] = counters.get("restarts", 0) + 1

    def _connected(self, event: ProducerConnected) -> None:
        key = event.producer
        current = self.producers.get(key)
        if current is None or current.connected != event.connected:
            self.producers[key] = Connection(event.connected, event.reason, self.clock())
        else:
            current.reason = event.reason

    def _partition_lag(self, event: PartitionLagReported) -> None:
        self._backlog_book.partition_lag(event)

    def _backlog(self, event: BacklogReported) -> None:
        self._backlog_book.reported(event)
        if self.backlog_total > 0:
            if self.backlog_since is None:
                self.backlog_since = self.clock()
        else:
            self.backlog_since = None
