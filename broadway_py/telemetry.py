"""Events the stages emit, and the hub that hands them to subscribers.

Core emits plain dataclass events; it knows nothing of Prometheus or logging.
``metrics/`` (or a test, or the demo's progress line) subscribes. Events are
emitted per chunk or per batch, never per message, and not at all when nobody
subscribed (stages check :attr:`Telemetry.enabled` first).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

log = logging.getLogger("broadway_py.telemetry")

PipelineState = Literal["starting", "running", "draining", "stopped", "failed"]
StageGroup = Literal["producer", "processor", "batcher"]


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
class AckFailed:
    """An acknowledger raised; the broker redelivers what it did not take."""

    stage: str
    error: str


@dataclass(frozen=True, slots=True)
class RateLimiterWaited:
    seconds: float


@dataclass(frozen=True, slots=True)
class StageRestarted:
    group: StageGroup
    stage: str
    reason: str
    redelivered: int


@dataclass(frozen=True, slots=True)
class ProducerConnected:
    """Reported by connectors when their connection comes up or goes down."""

    connected: bool
    reason: str = ""


@dataclass(frozen=True, slots=True)
class BacklogReported:
    """Messages waiting in the broker (queue depth, consumer lag), where known."""

    source: str
    messages: int


@dataclass(frozen=True, slots=True)
class PartitionLagReported:
    """Consumer lag of one partition of ``source``, where the connector knows it."""

    source: str
    partition: int
    messages: int


@dataclass(frozen=True, slots=True)
class AcksDropped:
    """Acks a connector could not deliver (e.g. meant for a dead channel)."""

    count: int
    reason: str


Event = (
    PipelineStateChanged
    | MessagesReceived
    | MessagesHandled
    | BatchHandled
    | MessagesAcked
    | AckFailed
    | RateLimiterWaited
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
        self.enabled = False

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Add a subscriber; returns a function that removes it."""
        self._subscribers.append(subscriber)
        self.enabled = True

        def unsubscribe() -> None:
            if subscriber in self._subscribers:
                self._subscribers.remove(subscriber)
            self.enabled = bool(self._subscribers)

        return unsubscribe

    def emit(self, event: Event) -> None:
        for subscriber in self._subscribers:
            try:
                subscriber(event)
            except Exception:
                log.exception("telemetry subscriber %r failed on %r", subscriber, event)
