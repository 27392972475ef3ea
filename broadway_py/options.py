"""Option objects for each part of a pipeline, validated when constructed.

Every check names the option it rejects (``processors.concurrency: must be at
least 1``) and runs when the pipeline is built, never later, on the hot path.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Literal

from broadway_py.errors import ConfigurationError
from broadway_py.message import Message
from broadway_py.producer import Producer, ProducerFactory

Transformer = Callable[[Message], Message]
PartitionBy = Callable[[Message], Hashable]
Executor = Literal["loop", "thread"]


def _at_least(option: str, value: float, minimum: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise ConfigurationError(option, f"must be a number, not {value!r}")
    if value < minimum:
        raise ConfigurationError(option, f"must be at least {minimum}, not {value!r}")


def _whole(option: str, value: int, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigurationError(option, f"must be a whole number, not {value!r}")
    _at_least(option, value, minimum)


@dataclass(frozen=True)
class ProducerOptions:
    """Where messages come from.

    ``producer`` is a zero-argument factory (a connector class bound to its
    options, or a lambda) called once per producer stage, or a single producer
    instance when ``concurrency`` is 1. ``transformer`` runs on each message as
    it leaves the producer; when it raises, that message fails and follows the
    retry policy.
    """

    producer: Producer | ProducerFactory
    concurrency: int = 1
    transformer: Transformer | None = None

    def __post_init__(self) -> None:
        _whole("producer.concurrency", self.concurrency, 1)
        if isinstance(self.producer, Producer):
            if self.concurrency != 1:
                raise ConfigurationError(
                    "producer.producer",
                    "with concurrency above 1 pass a factory that makes one producer per stage",
                )
        elif not callable(self.producer):
            raise ConfigurationError("producer.producer", "must be a Producer or a factory")
        if self.transformer is not None and not callable(self.transformer):
            raise ConfigurationError("producer.transformer", "must be callable")

    def make_producers(self) -> list[Producer]:
        if isinstance(self.producer, Producer):
            return [self.producer]
        producers = [self.producer() for _ in range(self.concurrency)]
        for made in producers:
            if not isinstance(made, Producer):
                raise ConfigurationError(
                    "producer.producer",
                    f"the factory returned {type(made).__name__}, not a Producer",
                )
        return producers


@dataclass(frozen=True)
class ProcessorOptions:
    """The processors that run ``handle_message``.

    Each of the ``concurrency`` workers takes chunks of at most ``max_demand``
    messages; producers refill the processors' buffer when it falls to
    ``min_demand`` per worker. With ``partition_by``, a key always goes to the
    same worker, which keeps per-key order. ``executor="thread"`` runs a
    synchronous ``handle_message`` in a worker thread, a chunk at a time.
    """

    concurrency: int = 4
    max_demand: int = 100
    min_demand: int | None = None
    partition_by: PartitionBy | None = None
    executor: Executor = "loop"

    def __post_init__(self) -> None:
        _whole("processors.concurrency", self.concurrency, 1)
        _whole("processors.max_demand", self.max_demand, 1)
        if self.min_demand is not None:
            _whole("processors.min_demand", self.min_demand, 0)
            if self.min_demand >= self.max_demand:
                raise ConfigurationError(
                    "processors.min_demand", "must be below processors.max_demand"
                )
        if self.partition_by is not None and not callable(self.partition_by):
            raise ConfigurationError("processors.partition_by", "must be callable")
        if self.executor not in ("loop", "thread"):
            raise ConfigurationError("processors.executor", "must be 'loop' or 'thread'")

    @property
    def low_water(self) -> int:
        per_worker = self.max_demand // 2 if self.min_demand is None else self.min_demand
        return per_worker * self.concurrency


@dataclass(frozen=True)
class BatcherOptions:
    """A named batcher and its batch processors.

    A batch closes at ``batch_size`` messages, at ``max_bytes`` bytes of
    payload (when set; ``message_size`` measures a message, by default the
    length of bytes or str data), when ``batch_timeout`` seconds passed since
    its first message, or at once for a message in ``flush`` mode. Messages are
    batched together only when their ``batch_key`` is equal. ``concurrency``
    batch processors run ``handle_batch``; with ``partition_by`` a key always
    goes to the same batch processor, which keeps per-key order.
    """

    name: str = "default"
    batch_size: int = 100
    batch_timeout: float = 1.0
    concurrency: int = 1
    max_bytes: int | None = None
    message_size: Callable[[Message], int] | None = None
    partition_by: PartitionBy | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigurationError("batchers.name", "must be a non-empty string")
        prefix = f"batchers.{self.name}"
        _whole(f"{prefix}.batch_size", self.batch_size, 1)
        _at_least(f"{prefix}.batch_timeout", self.batch_timeout, 0)
        if self.batch_timeout == 0:
            raise ConfigurationError(f"{prefix}.batch_timeout", "must be above 0")
        _whole(f"{prefix}.concurrency", self.concurrency, 1)
        if self.max_bytes is not None:
            _whole(f"{prefix}.max_bytes", self.max_bytes, 1)
        if self.partition_by is not None and not callable(self.partition_by):
            raise ConfigurationError(f"{prefix}.partition_by", "must be callable")


RATE_LIMIT_MESSAGES = (1, 1_000_000_000)
"""Lowest and highest ``rate_limit.allowed_messages`` (both included)."""

RATE_LIMIT_INTERVAL = (0.001, 3600.0)
"""Shortest and longest ``rate_limit.interval`` in seconds (both included): an
interval of hours or more (or an infinite one) would stop the pipeline while it
still reads as ready, so the pipeline file, the Python API and the admin
endpoint all refuse it."""


@dataclass(frozen=True)
class RateLimitOptions:
    """At most ``allowed_messages`` leave the producers per ``interval`` seconds.

    The bounds are :data:`RATE_LIMIT_MESSAGES` and :data:`RATE_LIMIT_INTERVAL`,
    checked here for every way a rate limit is set (built or changed at run time).
    """

    allowed_messages: int
    interval: float = 1.0

    def __post_init__(self) -> None:
        low, high = RATE_LIMIT_MESSAGES
        _whole("rate_limit.allowed_messages", self.allowed_messages, low)
        if self.allowed_messages > high:
            raise ConfigurationError(
                "rate_limit.allowed_messages",
                f"must be at most {high:_}, not {self.allowed_messages!r}",
            )
        shortest, longest = RATE_LIMIT_INTERVAL
        _at_least("rate_limit.interval", self.interval, 0)
        if not shortest <= self.interval <= longest:
            raise ConfigurationError(
                "rate_limit.interval",
                f"must be a finite number of seconds from {shortest:g} to {longest:g}, "
                f"not {self.interval!r}",
            )


@dataclass(frozen=True)
class ShutdownOptions:
    """A drain (stop() or SIGTERM) returns within ``drain_timeout`` seconds."""

    drain_timeout: float = 30.0

    def __post_init__(self) -> None:
        _at_least("shutdown.drain_timeout", self.drain_timeout, 0)


@dataclass(frozen=True)
class SupervisorOptions:
    """Past ``max_restarts`` stage restarts within ``max_seconds``, the pipeline fails."""

    max_restarts: int = 3
    max_seconds: float = 5.0

    def __post_init__(self) -> None:
        _whole("supervisor.max_restarts", self.max_restarts, 0)
        _at_least("supervisor.max_seconds", self.max_seconds, 0)
        if self.max_seconds == 0:
            raise ConfigurationError("supervisor.max_seconds", "must be above 0")


def default_message_size(message: Message) -> int:
    data: Any = message.data
    return len(data) if isinstance(data, bytes | bytearray | str | memoryview) else 0
