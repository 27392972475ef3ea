"""StageContext: what every stage of one pipeline run shares.

Two kinds of things: the pipeline's settings, read-only and the same for every
run (:class:`Settings`, which a :class:`~broadway_py.pipeline.Pipeline` is),
and the parts made for this run by :mod:`broadway_py.topology.build` (the
terminator, the processors' dispatch, the batchers' inboxes, the draining flag).
Stages read what they need from it once, when they start, not per message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from broadway_py.message import Message
from broadway_py.options import BatcherOptions, ProcessorOptions, ProducerOptions
from broadway_py.retry import RetryPolicy
from broadway_py.telemetry import Telemetry
from broadway_py.topology.callbacks import Callbacks
from broadway_py.topology.channel import Channel
from broadway_py.topology.dispatch import ProcessorDispatch
from broadway_py.topology.in_flight import InFlight
from broadway_py.topology.process_pool import ProcessPool
from broadway_py.topology.rate_limiter import RateLimiter
from broadway_py.topology.resize import Resizer
from broadway_py.topology.terminator import Terminator
from broadway_py.tracer import MessageTracer

PRODUCERS, PROCESSORS, BATCHERS = 0, 1, 2


class Settings(Protocol):
    """What the stages read off their pipeline; a Pipeline has each of these."""

    name: str
    producer_options: ProducerOptions
    processor_options: ProcessorOptions
    batcher_options: dict[str, BatcherOptions]
    callbacks: Callbacks
    telemetry: Telemetry
    in_flight: InFlight
    retry: RetryPolicy
    rate_limiter: RateLimiter | None
    process_pool: ProcessPool | None
    tracer: MessageTracer | None


@dataclass
class StageContext:
    settings: Settings
    terminator: Terminator
    dispatch: ProcessorDispatch
    batcher_inboxes: dict[str, Channel[list[Message]]]
    draining: bool = False
    default_batcher: str | None = field(init=False)
    #: The resizable stage groups of this run (filled by build_groups).
    resizer: Resizer = field(default_factory=Resizer, kw_only=True)

    def __post_init__(self) -> None:
        self.default_batcher = "default" if "default" in self.batcher_inboxes else None
