"""Option objects for each part of a pipeline, validated when constructed.

Every check names the option it rejects (``processors.concurrency: must be at
least 1``) and runs when the pipeline is built, never later, on the hot path.
Each option's default, bounds and doc are written once, on its field
(:func:`~broadway_py.option_spec.option`): the pipeline file's schema, the
builder and the docs tables all come from there.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Literal

from broadway_py.decoding import Decode, then
from broadway_py.errors import ConfigurationError
from broadway_py.message import Message
from broadway_py.option_spec import WEEK, bounds, check_options, option
from broadway_py.producer import Producer, ProducerFactory

Transformer = Callable[[Message], Message]
PartitionBy = Callable[[Message], Hashable]
Executor = Literal["loop", "thread", "process"]
Acknowledge = Literal["after_processing", "on_receive"]
ACKNOWLEDGE_MODES: tuple[Acknowledge, ...] = ("after_processing", "on_receive")

MAX_WORKERS = 10_000
"""Most processors, and most batch processors of one batcher, in a pipeline file."""
MAX_DEMAND = 100_000
_ORDERING = "the connector's ordering key"


@dataclass(frozen=True)
class ProducerOptions:
    """Where messages come from.

    ``producer`` is a zero-argument factory (a connector class bound to its
    options, or a lambda) called once per producer stage, or a single producer
    instance when ``concurrency`` is 1. ``decode`` (:class:`~broadway_py.decoding.Decode`)
    turns each message's bytes into what the handler sees (a model instance with
    ``Decode("json", model=Order)``); a message that does not decode is a
    poison message. ``transformer`` runs on each message as it leaves the
    producer, after decoding; when it raises, that message fails and follows
    the retry policy. ``acknowledge="on_receive"`` acks each message as the
    producer stage receives it (at most once; docs/delivery.md).
    """

    producer: Producer | ProducerFactory
    concurrency: int = option(1, "producer stages (broker consumers)", least=1, most=1_000)
    transformer: Transformer | None = None
    decode: Decode | None = None
    acknowledge: Acknowledge = option(  # noqa: RUF009 (a dataclasses.field)
        "after_processing",
        "`after_processing` (at least once: each message acked with its outcome) or "
        "`on_receive` (at most once: acked as the producer stage receives it; a failure is "
        "then only logged and counted, never retried or dead-lettered; docs/delivery.md)",
    )
    _transform: Transformer | None = dataclasses.field(
        default=None, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        check_options(self, "producer")
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
        if self.decode is not None and not isinstance(self.decode, Decode):
            raise ConfigurationError(
                "producer.decode", f"must be a Decode (Decode('json')), not {self.decode!r}"
            )
        if self.acknowledge not in ACKNOWLEDGE_MODES:
            raise ConfigurationError(
                "producer.acknowledge", "must be 'after_processing' or 'on_receive'"
            )
        decoder = None if self.decode is None else self.decode.decoder()
        object.__setattr__(self, "_transform", then(decoder, self.transformer))

    @property
    def transform(self) -> Transformer | None:
        """What runs on each message as it leaves the producer (None: nothing).

        The decode step, then the transformer, composed once. The one step the
        producer stage and ``Pipeline.test_batch`` both run.
        """
        return self._transform

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
    synchronous ``handle_message`` in a worker thread, a chunk at a time;
    ``executor="process"`` in a pool of worker processes, one per processor up
    to the CPU count (the handler and each chunk's data must pickle;
    docs/configuration.md, "executor"). ``timeout`` fails a message whose
    ``handle_message`` call runs longer (an async call is cancelled, a thread's
    or a process's abandoned: docs/configuration.md, "timeout").
    """

    concurrency: int = option(
        4, "processor workers running `handle_message`", least=1, most=MAX_WORKERS
    )
    max_demand: int = option(100, "most messages a worker takes at once", least=1, most=MAX_DEMAND)
    min_demand: int | None = option(
        None,
        "refill a worker's buffer when it falls to this many",
        least=0,
        most=MAX_DEMAND,
        shown="max_demand / 2",
    )
    partition_by: PartitionBy | None = option(  # noqa: RUF009 (a dataclasses.field)
        None,
        "`metadata.<key>` or `package.module:function` of a message: messages with the same "
        "key go to the same worker, in order",
        reference=True,
        shown=_ORDERING,
    )
    executor: Executor = option(  # noqa: RUF009 (a dataclasses.field)
        "loop",
        "`loop` (async or quick handlers), `thread` (blocking handlers run in a worker "
        "thread, a chunk at a time) or `process` (CPU-bound sync handlers run in a pool of "
        "worker processes, a chunk at a time; see below)",
    )
    timeout: float | None = option(
        None,
        "seconds one `handle_message` call may take; past them that message fails "
        "(its reason names `processors.timeout`) and the retry policy decides; see below",
        above=0,
        most=WEEK,
        shown="no limit",
    )

    def __post_init__(self) -> None:
        check_options(self, "processors")
        if self.min_demand is not None and self.min_demand >= self.max_demand:
            raise ConfigurationError("processors.min_demand", "must be below processors.max_demand")
        if self.partition_by is not None and not callable(self.partition_by):
            raise ConfigurationError("processors.partition_by", "must be callable")
        if self.executor not in ("loop", "thread", "process"):
            raise ConfigurationError("processors.executor", "must be 'loop', 'thread' or 'process'")

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
    batch_size: int = option(100, "close a batch at this many messages", least=1, most=1_000_000)
    max_bytes: int | None = option(
        None,
        "close a batch at this many bytes of payload",
        least=1,
        most=1 << 34,
        bound="16 GiB",
    )
    batch_timeout: float = option(
        1.0, "close a batch this many seconds after its first message", above=0, most=WEEK
    )
    concurrency: int = option(
        1, "batch processors running `handle_batch`", least=1, most=MAX_WORKERS
    )
    message_size: Callable[[Message], int] | None = None
    partition_by: PartitionBy | None = option(  # noqa: RUF009 (a dataclasses.field)
        None,
        "as for processors: batches of one key go to one batch processor",
        reference=True,
        shown=_ORDERING,
    )

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigurationError("batchers.name", "must be a non-empty string")
        prefix = f"batchers.{self.name}"
        check_options(self, prefix)
        if self.partition_by is not None and not callable(self.partition_by):
            raise ConfigurationError(f"{prefix}.partition_by", "must be callable")


@dataclass(frozen=True)
class RateLimitOptions:
    """At most ``allowed_messages`` leave the producers per ``interval`` seconds.

    Both bounds are strict: checked here for every way a rate limit is set
    (the pipeline file, the Python API, a change at run time). An interval of
    hours or more (or an infinite one) would stop the pipeline while it still
    reads as ready.
    """

    allowed_messages: int = option(
        dataclasses.MISSING,
        "messages allowed per interval",
        least=1,
        most=1_000_000_000,
        strict=True,
        bound="10^9",
    )
    interval: float = option(1.0, "the interval, in seconds", least=0.001, most=3600.0, strict=True)

    def __post_init__(self) -> None:
        check_options(self, "rate_limit")


RATE_LIMIT_MESSAGES = bounds(RateLimitOptions, "allowed_messages")
"""Lowest and highest ``rate_limit.allowed_messages`` (both included)."""

RATE_LIMIT_INTERVAL = bounds(RateLimitOptions, "interval")
"""Shortest and longest ``rate_limit.interval`` in seconds (both included)."""


@dataclass(frozen=True)
class ShutdownOptions:
    """A drain (stop() or SIGTERM) returns within ``drain_timeout`` seconds."""

    drain_timeout: float = option(
        30.0,
        "seconds a drain (SIGTERM / SIGINT) may take; past them what is left goes back to "
        "the broker",
        least=0,
        most=WEEK,
    )

    def __post_init__(self) -> None:
        check_options(self, "shutdown")


@dataclass(frozen=True)
class SupervisorOptions:
    """Past ``max_restarts`` stage restarts within ``max_seconds``, the pipeline fails."""

    max_restarts: int = option(
        3, "stage restarts allowed within `max_seconds`", least=0, most=10_000
    )
    max_seconds: float = option(5.0, "the restart intensity window, in seconds", above=0, most=WEEK)

    def __post_init__(self) -> None:
        check_options(self, "supervisor")


def default_message_size(message: Message) -> int:
    data: Any = message.data
    return len(data) if isinstance(data, bytes | bytearray | str | memoryview) else 0
