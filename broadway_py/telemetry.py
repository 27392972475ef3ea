"""Events the stages emit, and the hub that hands them to subscribers.

Core emits plain dataclass events; it knows nothing of Prometheus or logging.
``metrics/`` (or a test, or the demo's progress line) subscribes. Events are
emitted per chunk or per batch, never per message, and not at all when nobody
subscribed (stages check :attr:`Telemetry.enabled` first).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

from broadway_py.retry import DecisionKind

log = logging.getLogger("broadway_py.telemetry")

PipelineState = Literal["starting", "running", "draining", "stopped", "failed"]
StageGroup = Literal["producer", "processor", "batcher"]

MAX_FAILURE_SAMPLES = 5
"""Failed messages a :class:`MessagesFailed` describes, at most (the first of the call)."""
MAX_FAILURE_REASON = 300
"""Characters of a failure's reason a :class:`FailureSample` keeps, at most."""


def cut_reason(reason: str) -> str:
    """``reason`` in at most ``MAX_FAILURE_REASON`` characters, cut between words.

    The word the cut would split is dropped whole, and an ellipsis marks the
    cut: half a secret (a URL's password, a token) is never kept for a masker
    that recognises only whole ones (the HTTP port masks every reason it shows).
    """
    if len(reason) <= MAX_FAILURE_REASON:
        return reason
    head = reason[: MAX_FAILURE_REASON - 1]
    gap = max(head.rfind(" "), head.rfind("\n"), head.rfind("\t"))
    return head[:gap].rstrip() + "\u2026" if gap > 0 else "\u2026"


@dataclass(frozen=True, slots=True)
class PipelineStateChanged:
    state: PipelineState


@dataclass(frozen=True, slots=True)
class MessagesReceived:
    """A producer stage handed ``count`` messages to the pipeline."""

    producer: int
    count: int


@dataclass(frozen=True, slots=True)
class MessagesHandled:
    """A processor ran ``handle_message`` over a chunk; one duration per message."""

    processor: int
    successful: int
    failed: int
    durations: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class BatchHandled:
    """A batch processor ran ``handle_batch`` over one batch."""

    batcher: str
    size: int
    failed: int
    duration: float
    trigger: str


@dataclass(frozen=True, slots=True)
class MessagesAcked:
    """Outcomes handed to acknowledgers by one stage."""

    stage: str
    successful: int
    retried: int
    dead_lettered: int
    discarded: int


@dataclass(frozen=True, slots=True)
class FailureSample:
    """One failed message, as :class:`MessagesFailed` describes it.

    ``reason`` is the message's ``status.reason``, cut by :func:`cut_reason`;
    ``decision`` and ``delay`` are what was decided for it.
    """

    message_id: str | None
    reason: str
    decision: DecisionKind
    delay: float


@dataclass(frozen=True, slots=True)
class MessagesFailed:
    """A stage hands ``count`` failed messages, decided, to their acknowledgers.

    Emitted just before the ``MessagesAcked`` that counts them, only when a
    call has failed messages; ``samples`` describes the first of them (at most
    ``MAX_FAILURE_SAMPLES``).
    """

    stage: str
    count: int
    samples: tuple[FailureSample, ...]


@dataclass(frozen=True, slots=True)
class AckFailed:
    """An acknowledger raised; the broker redelivers what it did not take."""

    stage: str
    error: str


@dataclass(frozen=True, slots=True)
class RateLimiterWaited:
    seconds: float


@dataclass(frozen=True, slots=True)
class HandlerAbandoned:
    """``handle_message`` calls past ``processors.timeout`` that could not be stopped.

    ``executor`` is ``thread`` (each call goes on in its thread until it
    returns) or ``process`` (the call goes on in its worker process, which is
    replaced and ended when the pool closes); async calls are cancelled and
    not reported here.
    """

    processor: int
    executor: str
    count: int


@dataclass(frozen=True, slots=True)
class StageRestarted:
    group: StageGroup
    stage: str
    reason: str
    redelivered: int


@dataclass(frozen=True, slots=True)
class ProducerConnected:
    """Reported by connectors when their connection comes up or goes down.

    One report per producer instance: with ``producer.concurrency`` above 1
    each instance says its own state (``producer``, stamped by the pipeline),
    and the pipeline is connected only while every instance is.
    """

    connected: bool
    reason: str = ""
    producer: int = 0


@dataclass(frozen=True, slots=True)
class BacklogReported:
    """Messages waiting in the broker for ``source`` (queue depth, consumer lag), where known.

    What ``messages`` covers depends on how the producers share the source:

    - a queue (RabbitMQ, SQS, memory): the whole queue's depth, the same for
      every producer consuming it; the latest report stands for the source.
    - a partitioned source (Kafka): the lag of the partitions the reporting
      producer holds, each reported first as ``PartitionLagReported``; the
      source's backlog is the sum of its partitions' latest lags, across
      producers. This report closes the producer's round of partition reports
      (partitions it no longer reported were taken from it).

    ``producer`` is stamped by the pipeline (see :meth:`Telemetry.for_producer`).
    """

    source: str
    messages: int
    producer: int = 0


@dataclass(frozen=True, slots=True)
class PartitionLagReported:
    """Consumer lag of one partition of ``source``, where the connector knows it.

    Its presence tells that ``source`` is partitioned among the producers
    (see :class:`BacklogReported`).
    """

    source: str
    partition: int
    messages: int
    producer: int = 0


@dataclass(frozen=True, slots=True)
class AcksDropped:
    """Acks a connector could not deliver (e.g. meant for a dead channel).

    ``count`` messages whose outcome the broker was never told; it redelivers
    them. The outcome fields split ``count`` by the outcome the pipeline had
    handed over (the fields of :class:`MessagesAcked`); a connector that
    cannot tell leaves them at 0. A connector reports the drop from within
    its ``ack`` call, so it arrives before the stage's ``MessagesAcked`` that
    counts those messages as handed over.
    """

    count: int
    reason: str
    successful: int = 0
    retried: int = 0
    dead_lettered: int = 0
    discarded: int = 0
    producer: int = 0


Event = (
    PipelineStateChanged
    | MessagesReceived
    | MessagesHandled
    | BatchHandled
    | MessagesAcked
    | MessagesFailed
    | AckFailed
    | RateLimiterWaited
    | HandlerAbandoned
    | StageRestarted
    | ProducerConnected
    | BacklogReported
    | PartitionLagReported
    | AcksDropped
)
Subscriber = Callable[[Event], None]


class Telemetry:
    """A pipeline's event hub. Subscribers must be quick and must not raise."""

    def __init__(self, pipeline: str) -> None:
        self.pipeline = pipeline
        self._subscribers: list[Subscriber] = []
        self._views: dict[int, ProducerTelemetry] = {}
        self.enabled = False

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Add a subscriber; returns a function that removes it."""
        self._subscribers.append(subscriber)
        self._set_enabled(True)

        def unsubscribe() -> None:
            if subscriber in self._subscribers:
                self._subscribers.remove(subscriber)
            self._set_enabled(bool(self._subscribers))

        return unsubscribe

    def emit(self, event: Event) -> None:
        for subscriber in self._subscribers:
            try:
                subscriber(event)
            except Exception:
                log.exception("telemetry subscriber %r failed on %r", subscriber, event)

    def for_producer(self, index: int) -> Telemetry:
        """This hub as producer instance ``index`` sees it (one view per index).

        The pipeline hands each producer its own view in ``Producer.start``:
        what the producer reports (``ProducerConnected``, ``BacklogReported``,
        ``PartitionLagReported``, ``AcksDropped``) reaches the subscribers
        stamped with ``producer=index``, so connectors need not know their index.
        """
        view = self._views.get(index)
        if view is None:
            view = self._views[index] = ProducerTelemetry(self, index)
        return view

    def _set_enabled(self, enabled: bool) -> None:
        self.enabled = enabled
        for view in self._views.values():
            view.enabled = enabled


class ProducerTelemetry(Telemetry):
    """A view of a pipeline's hub that stamps its producer's index on what it reports."""

    def __init__(self, hub: Telemetry, producer: int) -> None:
        super().__init__(hub.pipeline)
        self.hub = hub
        self.producer = producer
        self.enabled = hub.enabled

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        return self.hub.subscribe(subscriber)

    def emit(self, event: Event) -> None:
        if (
            isinstance(
                event, ProducerConnected | BacklogReported | PartitionLagReported | AcksDropped
            )
            and event.producer != self.producer
        ):
            event = replace(event, producer=self.producer)
        self.hub.emit(event)

    def for_producer(self, index: int) -> Telemetry:
        return self.hub.for_producer(index)
