"""Pipeline: the public API; runs a topology, drains it, and tests it.

::

    pipeline = Pipeline(
        "orders",
        handler=OrderHandler(),
        producer=ProducerOptions(MemoryProducer.factory(broker, "orders")),
        processors=ProcessorOptions(concurrency=4),
        batchers=[BatcherOptions("db", batch_size=100, batch_timeout=0.5)],
    )
    await pipeline.run()          # until SIGTERM / SIGINT / stop(); raises PipelineFailed

Several producers feed one pipeline with ``producers={"orders": ProducerOptions(...),
"audit": ProducerOptions(...)}`` instead of ``producer=``: their messages share
the processors, batchers, rate limit and supervisor, and each message is
acknowledged by its own producer's acknowledger.

Everything is validated in the constructor; ``run`` / ``start`` only connect
the producers, build the stages (:mod:`broadway_py.topology.build`) and start
them under the supervisor.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import re
import signal
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import replace
from types import TracebackType
from typing import Any, Literal

from broadway_py.acknowledger import CallerAcknowledger
from broadway_py.errors import ConfigurationError, PipelineFailed, PipelineNotRunning
from broadway_py.handler import Handler, as_handler, overrides
from broadway_py.message import BatchMode, Message
from broadway_py.options import (
    BatcherOptions,
    ProcessorOptions,
    ProducerOptions,
    RateLimitOptions,
    ShutdownOptions,
    SupervisorOptions,
)
from broadway_py.producer import Producer
from broadway_py.retry import RetryPolicy
from broadway_py.telemetry import PipelineState, PipelineStateChanged, StageGroup, Telemetry
from broadway_py.topology.build import build_context, build_groups
from broadway_py.topology.callbacks import Callbacks
from broadway_py.topology.context import StageContext
from broadway_py.topology.holding import Holding
from broadway_py.topology.in_flight import InFlight
from broadway_py.topology.process_pool import ProcessPool
from broadway_py.topology.rate_limiter import RateLimiter
from broadway_py.topology.resize import checked_sizes
from broadway_py.topology.supervisor import Supervisor
from broadway_py.topology.transform import transform_messages
from broadway_py.tracer import MessageTracer

log = logging.getLogger("broadway_py.pipeline")

DEFAULT_PRODUCER = "default"
"""The name of the one producer given as ``producer=`` (or a file's ``producer:``)."""
MAX_PRODUCERS = 16
"""Most named producers in one pipeline: their names are a bounded metric label."""
PRODUCER_NAME = re.compile(r"[a-z0-9_-]{1,40}\Z")
"""What a producer's name may be: it is the ``producer`` label of per-producer metrics."""


class Pipeline:
    """A supervised, back-pressured pipeline: producers -> processors -> batchers."""

    def __init__(
        self,
        name: str,
        handler: Handler | Callable[[Message], Any],
        producer: ProducerOptions | None = None,
        processors: ProcessorOptions | None = None,
        batchers: Sequence[BatcherOptions] = (),
        rate_limit: RateLimitOptions | None = None,
        retry: RetryPolicy | None = None,
        shutdown: ShutdownOptions | None = None,
        supervisor: SupervisorOptions | None = None,
        telemetry: Telemetry | None = None,
        *,
        producers: Mapping[str, ProducerOptions] | None = None,
        tracer: MessageTracer | None = None,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ConfigurationError("name", "must be a non-empty string")
        self.name = name
        try:
            self.handler = as_handler(handler)
        except TypeError as error:
            raise ConfigurationError("handler", str(error)) from None
        self.producer_specs = named_producers(producer, producers)
        """The producers' options by name, in the order given (one: ``DEFAULT_PRODUCER``)."""
        # The first producer's: what a single-producer pipeline reads (and test_batch by default).
        self.producer_options = next(iter(self.producer_specs.values()))
        self.producer_names = [
            producer_name
            for producer_name, options in self.producer_specs.items()
            for _ in range(options.concurrency)
        ]
        """The name of each producer instance, by its index (``producer_{index}``, telemetry)."""
        self.processor_options = processors or ProcessorOptions()
        self.batcher_options = {b.name: b for b in batchers}
        if len(self.batcher_options) != len(batchers):
            seen = [b.name for b in batchers]
            duplicate = next(n for n in seen if seen.count(n) > 1)
            raise ConfigurationError(f"batchers.{duplicate}", "batcher names must be unique")
        if self.batcher_options and not overrides(self.handler, "handle_batch"):
            raise ConfigurationError(
                "handler.handle_batch", "the handler must define handle_batch when batchers are set"
            )
        self.rate_limit = rate_limit
        self.retry = retry or RetryPolicy()
        self.shutdown = shutdown or ShutdownOptions()
        self.supervisor_options = supervisor or SupervisorOptions()
        self.telemetry = telemetry or Telemetry(name)
        self.tracer = tracer
        """Traces each message and batch (:mod:`broadway_py.tracer`); None: no tracing."""
        self.callbacks = Callbacks.of(self.handler)
        self.process_pool = ProcessPool.for_pipeline(
            self.callbacks, self.processor_options.concurrency, self.processor_options.executor
        )
        self.state: PipelineState | Literal["new"] = "new"
        self.in_flight = InFlight()
        self.rate_limiter = (
            RateLimiter(rate_limit.allowed_messages, rate_limit.interval) if rate_limit else None
        )
        self.producers: list[Producer] = []
        self._caller = CallerAcknowledger()
        self._context: StageContext | None = None
        self._contexts: list[StageContext] = []
        self._supervisor: Supervisor | None = None
        self._lifecycle: asyncio.Task[None] | None = None
        self._stages: asyncio.Task[None] | None = None
        self._abandoned = False
        self._stopping: asyncio.Task[None] | None = None

    # -- lifecycle ---------------------------------------------------------------

    async def start(self) -> None:
        """Connect the producers and start every stage under the supervisor."""
        if self.state != "new":
            raise PipelineNotRunning(f"pipeline {self.name!r} was already started")
        self._set_state("starting")
        self.producers = [
            made for options in self.producer_specs.values() for made in options.make_producers()
        ]
        started: list[Producer] = []
        try:
            if self.process_pool is not None:
                await self.process_pool.start()
            for index, producer in enumerate(self.producers):
                await producer.start(self.telemetry.for_producer(index))
                started.append(producer)
        except BaseException:
            await self._close_producers(started)
            await self._close_pool()
            self._set_state("failed")
            raise
        context = build_context(self)
        self._context = context
        groups = build_groups(context, self.producers, self._producer_contexts(context))
        self._supervisor = Supervisor(groups, self.supervisor_options, context)
        self._set_state("running")
        # Two tasks: the stages (cancelled to abandon a drain) and the lifecycle
        # around them, which always closes the producers.
        self._stages = asyncio.create_task(
            self._supervisor.run(), name=f"broadway:{self.name}:stages"
        )
        self._lifecycle = asyncio.create_task(
            self._supervise(self._stages), name=f"broadway:{self.name}"
        )

    async def wait(self) -> None:
        """Wait until the pipeline stopped; raises PipelineFailed if it failed."""
        if self._lifecycle is None:
            raise PipelineNotRunning(f"pipeline {self.name!r} was not started")
        await asyncio.shield(self._lifecycle)

    async def run(self) -> None:
        """Start, then run until stopped; SIGTERM and SIGINT start a drain."""
        await self.start()
        loop = asyncio.get_running_loop()
        installed: list[signal.Signals] = []
        for signum in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(signum, self._on_signal, signum)
                installed.append(signum)
            except (NotImplementedError, RuntimeError, ValueError):
                pass  # not the main thread, or no signals on this platform
        try:
            await self.wait()
            if self._stopping is not None:
                await asyncio.shield(self._stopping)
        finally:
            for signum in installed:
                loop.remove_signal_handler(signum)

    def _on_signal(self, signum: signal.Signals) -> None:
        log.info("received %s: draining (at most %ss)", signum.name, self.shutdown.drain_timeout)
        self._stopping = self._stopping or asyncio.ensure_future(self.stop())

    async def stop(self) -> None:
        """Drain: stop fetching, finish in-flight work, flush batches, ack, close.

        Returns within ``shutdown.drain_timeout`` (plus closing the producers),
        and the pipeline is ``stopped`` either way. What did not finish by
        then is abandoned: not acknowledged, its stages cancelled, the
        producers closed, so the broker redelivers it; one warning says how
        many messages that was. ``run()`` then returns normally too: a timed
        out drain is still a requested stop, not a failure.
        """
        if self._lifecycle is None or self._context is None:
            if self.state == "new":
                self._set_state("stopped")
            return
        if not self._lifecycle.done() and not self._context.draining:
            self._set_state("draining")
            self._mark_draining()
            for producer in self.producers:
                producer.stop_fetching()
            if self.rate_limiter is not None:
                self.rate_limiter.close()
        try:
            await asyncio.wait_for(asyncio.shield(self._lifecycle), self.shutdown.drain_timeout)
        except TimeoutError:
            if not self._abandoned:  # one line, also when two callers stop at once
                log.warning(
                    "drain timed out after %gs: %d messages left unacknowledged; "
                    "the broker redelivers them",
                    self.shutdown.drain_timeout,
                    len(self.in_flight),
                )
            await self._abandon()
        except PipelineFailed:
            pass  # reported by wait() / run()

    async def kill(self) -> None:
        """Stop at once, acking nothing more: the broker redelivers what was in flight."""
        if self._lifecycle is None:
            return
        self._mark_draining()
        for producer in self.producers:
            producer.stop_fetching()
        await self._abandon()

    def _producer_contexts(self, context: StageContext) -> list[StageContext]:
        """The context each producer instance's stage reads: its own producer's options.

        One producer: the shared context itself. Several: a copy per named
        producer whose settings show that producer's options (its transform),
        marked draining with the shared one (:meth:`_mark_draining`).
        """
        if len(self.producer_specs) == 1:
            self._contexts = [context]
            return [context] * len(self.producer_names)
        by_name = {
            producer_name: dataclasses.replace(context, settings=ProducerSettings(self, options))
            for producer_name, options in self.producer_specs.items()
        }
        self._contexts = [context, *by_name.values()]
        return [by_name[producer_name] for producer_name in self.producer_names]

    def _mark_draining(self) -> None:
        for context in self._contexts:
            context.draining = True

    async def _abandon(self) -> None:
        """Cancel every stage and wait for the lifecycle to close the producers.

        Nothing more is acked. The lifecycle task itself ends normally (or with
        PipelineFailed, reported by ``wait()``), so ``run()`` and ``wait()``
        never see a CancelledError that nobody asked them for.
        """
        lifecycle = self._lifecycle
        if lifecycle is None:
            return
        self._abandoned = True
        if self._stages is not None:
            self._stages.cancel()
        with contextlib.suppress(PipelineFailed):
            await asyncio.shield(lifecycle)

    async def __aenter__(self) -> Pipeline:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _supervise(self, stages: asyncio.Task[None]) -> None:
        try:
            await stages
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if not stages.cancelled() or (current is not None and current.cancelling()):
                raise  # this task itself was cancelled: not an abandon
            # abandoned by _abandon(): what was in flight is left to the broker
        except PipelineFailed:
            self._set_state("failed")
            raise
        finally:
            await self._close_producers(self.producers)
            await self._close_pool()
            if self.state != "failed":
                self._set_state("stopped")

    async def _close_producers(self, producers: Sequence[Producer]) -> None:
        for producer in producers:
            try:
                await producer.close()
            except Exception:
                log.exception("closing producer %r failed", producer)

    async def _close_pool(self) -> None:
        if self.process_pool is not None:
            await self.process_pool.close()

    def _set_state(self, state: PipelineState) -> None:
        self.state = state
        if self.telemetry.enabled:
            self.telemetry.emit(PipelineStateChanged(state))

    # -- testing helpers -----------------------------------------------------------

    async def test_message(
        self,
        data: Any,
        metadata: dict[str, Any] | None = None,
        batch_mode: BatchMode = "flush",
        producer: str | None = None,
    ) -> Message:
        """Push one message through the running pipeline; returns it once acked.

        The returned message tells the outcome: ``status`` (ok, or failed with
        a reason), ``batcher`` and, when it failed, the retry ``decision``.
        """
        (acked,) = await self.test_batch(
            [data], metadata=metadata, batch_mode=batch_mode, producer=producer
        )
        return acked

    async def test_batch(
        self,
        data: Sequence[Any],
        metadata: dict[str, Any] | None = None,
        batch_mode: BatchMode = "bulk",
        producer: str | None = None,
    ) -> list[Message]:
        """Push messages through the running pipeline; returns them once all are acked.

        Each message first meets the producer's transform (the file's
        ``decode``, then the transformer), as a delivered one does: one that
        fails there comes back failed with the reason, decided by the retry
        policy, without reaching the handler. ``producer`` names whose
        transform the messages meet (default: the first producer's).
        """
        context = self._context
        if context is None or context.draining or self.state != "running":
            raise PipelineNotRunning(f"pipeline {self.name!r} is not running")
        messages = []
        for item in data:
            message = Message(item, acknowledger=self._caller, metadata=dict(metadata or {}))
            message.batch_mode = batch_mode
            messages.append(message)
        self.in_flight.receive(messages, asyncio.get_running_loop().time())
        if producer is not None and producer not in self.producer_specs:
            raise ConfigurationError(
                "producer", f"no producer named {producer!r}: {', '.join(self.producer_specs)}"
            )
        options = self.producer_options if producer is None else self.producer_specs[producer]
        transform = options.transform
        failed: list[Message] = []
        waiting = []
        if transform is not None:
            # One at a time, so each result is known to stand for its message.
            kept: list[Message] = []
            for message in messages:
                ok, bad = transform_messages([message], transform)
                waiting += [self._caller.expect(m) for m in ok or bad]
                kept += ok
                failed += bad
            messages = kept
        else:
            waiting = [self._caller.expect(m) for m in messages]
        if failed:
            await context.terminator.finish([], failed, "producer")
        # Held by the caller until handed over; a restart does not take it from here.
        rejected = await context.dispatch.dispatch(messages, Holding()) if messages else []
        if rejected:
            await context.terminator.finish([], rejected, "test")
        return list(await asyncio.gather(*waiting))

    # -- runtime information and updates ---------------------------------------------

    def update_rate_limit(
        self, allowed_messages: int | None = None, interval: float | None = None
    ) -> None:
        """Change the rate limit while the pipeline runs."""
        if self.rate_limiter is None:
            raise ConfigurationError("rate_limit", "this pipeline was built without a rate limit")
        limiter = self.rate_limiter
        checked = RateLimitOptions(
            limiter.allowed_messages if allowed_messages is None else allowed_messages,
            limiter.interval if interval is None else interval,
        )
        limiter.update(checked.allowed_messages, checked.interval)

    def oldest_in_flight_age(self) -> float:
        """Seconds since the oldest message still in flight was received (0 if none)."""
        oldest = self.in_flight.oldest_received_at()
        if oldest is None:
            return 0.0
        return max(asyncio.get_running_loop().time() - oldest, 0.0)

    @property
    def restarts(self) -> int:
        return self._supervisor.restart_count if self._supervisor else 0

    def describe(self) -> dict[str, Any]:
        """The topology and its settings, as plain data (for graph and /status)."""
        limiter = self.rate_limiter
        return {
            "name": self.name,
            "state": self.state,
            "producer": _describe_producer(self.producer_options),
            "producers": {
                producer_name: _describe_producer(options)
                for producer_name, options in self.producer_specs.items()
            },
            "producer_instances": list(self.producer_names),
            "rate_limit": None
            if limiter is None
            else {"allowed_messages": limiter.allowed_messages, "interval": limiter.interval},
            "processors": {
                "concurrency": self.processor_options.concurrency,
                "max_demand": self.processor_options.max_demand,
                "partition_by": _name_of(self.processor_options.partition_by),
                "executor": self.processor_options.executor,
            },
            "batchers": [
                {
                    "name": b.name,
                    "batch_size": b.batch_size,
                    "max_bytes": b.max_bytes,
                    "batch_timeout": b.batch_timeout,
                    "concurrency": b.concurrency,
                    "partition_by": _name_of(b.partition_by),
                }
                for b in self.batcher_options.values()
            ],
            "retry": {
                "max_attempts": self.retry.max_attempts,
                "min_delay": self.retry.min_delay,
                "max_delay": self.retry.max_delay,
                "dead_letter": self.retry.dead_letter,
            },
            "in_flight": len(self.in_flight),
            "restarts": self.restarts,
        }

    # -- resizing while running ------------------------------------------------------

    async def resize(
        self,
        processors: int | None = None,
        batchers: Mapping[str, int] | None = None,
        timeout: float = 30.0,
    ) -> dict[str, Any]:
        """Change how many processors, and batch processors of each batcher, run.

        ``await pipeline.resize(processors=8, batchers={"db": 2})``: nothing is
        lost or acknowledged twice. Without ``partition_by`` workers are added
        at once, and a removed one first finishes the chunk in its hands. With
        it, keys map to workers anew: the stage feeding them is held while
        every message of the old mapping is handled, so each key keeps its
        order (at most ``timeout`` seconds: past that, nothing is changed and
        TimeoutError is raised). Resizes take turns. Returns the sizes now;
        ConfigurationError names a bad value, PipelineNotRunning when the
        pipeline is not running.
        """
        count, sizes = checked_sizes(processors, batchers, self.batcher_options)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
            raise ConfigurationError("timeout", f"must be a positive number, not {timeout!r}")
        context, supervisor = self._context, self._supervisor
        if context is None or supervisor is None or context.draining or self.state != "running":
            raise PipelineNotRunning(f"pipeline {self.name!r} is not running")
        resizer = context.resizer
        async with resizer.lock:
            if count is not None and resizer.processors is not None:
                await resizer.processors.resize(count, supervisor, timeout, self._stages)
                self.processor_options = replace(self.processor_options, concurrency=count)
            for name, size in sizes.items():
                workers, wake = resizer.batchers[name]
                await workers.resize(size, supervisor, timeout, self._stages, wake)
                self.batcher_options[name] = replace(self.batcher_options[name], concurrency=size)
        log.info("pipeline %r resized to %s", self.name, self.sizes())
        return self.sizes()

    def sizes(self) -> dict[str, Any]:
        """How many processors and batch processors (per batcher) run: ``resize``'s settings."""
        return {
            "processors": self.processor_options.concurrency,
            "batchers": {name: b.concurrency for name, b in self.batcher_options.items()},
        }

    def running_stages(self, kind: StageGroup) -> list[str]:
        """The names of the stage tasks of group ``kind`` running now (none unless started)."""
        return self._supervisor.running_stages(kind) if self._supervisor else []


def named_producers(
    producer: ProducerOptions | None, producers: Mapping[str, ProducerOptions] | None
) -> dict[str, ProducerOptions]:
    """The pipeline's producers by name: ``producer`` alone is ``DEFAULT_PRODUCER``.

    Exactly one of the two is given; names match ``PRODUCER_NAME`` and there
    are 1 to ``MAX_PRODUCERS`` of them (the ``producer`` metric label stays bounded).
    """
    if (producer is None) == (producers is None):
        raise ConfigurationError(
            "producers", "give either producer= (one producer) or producers= (named), not both"
        )
    if producer is not None:
        named = {DEFAULT_PRODUCER: producer}
    else:
        assert producers is not None
        if not isinstance(producers, Mapping):
            raise ConfigurationError("producers", "must be a mapping of names to ProducerOptions")
        named = dict(producers)
        if not 1 <= len(named) <= MAX_PRODUCERS:
            raise ConfigurationError(
                "producers", f"1 to {MAX_PRODUCERS} named producers, not {len(named)}"
            )
    for producer_name, options in named.items():
        if not isinstance(producer_name, str) or not PRODUCER_NAME.match(producer_name):
            raise ConfigurationError(
                "producers",
                f"producer name {producer_name!r}: 1 to 40 of a-z, 0-9, '_' and '-'",
            )
        if not isinstance(options, ProducerOptions):
            raise ConfigurationError(
                f"producers.{producer_name}",
                f"must be ProducerOptions, not {type(options).__name__}",
            )
    return named


class ProducerSettings:
    """A pipeline's settings as the stages of one of its named producers read them.

    Everything is the pipeline's, read through at each access, but
    ``producer_options``: that producer's own (its decode step and transformer).
    """

    def __init__(self, pipeline: Pipeline, options: ProducerOptions) -> None:
        self._pipeline = pipeline
        self.producer_options = options

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._pipeline, attribute)


def _describe_producer(options: ProducerOptions) -> dict[str, Any]:
    return {
        "concurrency": options.concurrency,
        "decode": None if options.decode is None else str(options.decode),
        "transformer": _name_of(options.transformer),
    }


def _name_of(function: Callable[..., Hashable | Message] | None) -> str | None:
    if function is None:
        return None
    return getattr(function, "__qualname__", None) or repr(function)
