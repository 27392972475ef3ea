"""StageContext: what every stage of one pipeline shares."""

from __future__ import annotations

from dataclasses import dataclass, field

from broadway_py.message import Message
from broadway_py.options import BatcherOptions, ProcessorOptions, ProducerOptions
from broadway_py.telemetry import Telemetry
from broadway_py.topology.callbacks import Callbacks
from broadway_py.topology.channel import Channel
from broadway_py.topology.dispatch import ProcessorDispatch
from broadway_py.topology.in_flight import InFlight
from broadway_py.topology.rate_limiter import RateLimiter
from broadway_py.topology.terminator import Terminator

PRODUCERS, PROCESSORS, BATCHERS = 0, 1, 2


@dataclass
class StageContext:
    pipeline: str
    producer_options: ProducerOptions
    processor_options: ProcessorOptions
    batcher_options: dict[str, BatcherOptions]
    callbacks: Callbacks
    telemetry: Telemetry
    in_flight: InFlight
    terminator: Terminator
    dispatch: ProcessorDispatch
    batcher_inboxes: dict[str, Channel[list[Message]]]
    rate_limiter: RateLimiter | None
    draining: bool = False
    default_batcher: str | None = field(init=False)

    def __post_init__(self) -> None:
        self.default_batcher = "default" if "default" in self.batcher_options else None
