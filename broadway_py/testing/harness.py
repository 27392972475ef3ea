"""A pipeline file built for a test: each producer swapped for an in-memory queue.

The swap is made where the file's connectors are chosen, so the builder (the
one that ``broadway-py run`` uses) builds everything else as it always does,
each named producer of ``producers:`` with its own decode, transformer and
concurrency, fed by its own queue. What depends on the file's broker goes with
it: the connector's default ordering key (Kafka's ``(topic, partition)``) does
not apply to the in-memory messages (a ``partition_by`` the file sets still
does), and dead letters land in :attr:`PipelineHarness.dead_letters`, not in
the file's ``dead_letter.destination``.

``partition_by: key`` is checked against the file's connectors as ``run``
checks it (refused by a connector without key ordering, and by Kafka with
``ordered: true``); under test it orders the in-memory messages by the key
they carry as ``metadata={"key": ...}`` (messages without one keep their
order among themselves).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import AsyncIterator, Callable, Hashable, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from broadway_py.config.builder import build_pipeline
from broadway_py.config.loader import LoadedConfig, load_config
from broadway_py.config.overrides import Override, parse_set
from broadway_py.config.references import metadata_key
from broadway_py.connectors.memory import (
    DeadLetter,
    MemoryBroker,
    MemoryProducer,
    MemoryQueue,
    QueueStats,
)
from broadway_py.connectors.registry import Connector, KeyOrderingMaker
from broadway_py.message import BatchMode, Message
from broadway_py.pipeline import DEFAULT_PRODUCER, Pipeline
from broadway_py.producer import Producer
from broadway_py.telemetry import Telemetry

DEFAULT_SETTLE_TIMEOUT = 10.0
"""Seconds :meth:`PipelineHarness.settle` waits for the queues to be idle."""

KEY = "key"
"""The metadata field a pushed message carries its record key in (``partition_by: key``)."""


def load_for_test(
    path: str | os.PathLike[str],
    overrides: Sequence[str | Override] = (),
    env: Mapping[str, str] | None = None,
    telemetry: Telemetry | None = None,
) -> tuple[Pipeline, MemoryQueue]:
    """The file's pipeline (not started), fed by a new in-memory queue, and that queue.

    ``overrides`` are ``--set`` arguments (``"retry.max_attempts=1"``) or
    parsed :class:`~broadway_py.config.overrides.Override`; ``env`` is what
    ``${VAR}`` reads (the process environment when None). Raises
    ConfigFileError (every problem, at its ``file:line:col``) and BadOverride.
    With ``producers:`` the queue is the first producer's; each one's:
    :func:`load_for_test_by_producer`.
    """
    pipeline, queues = load_for_test_by_producer(path, overrides, env, telemetry)
    return pipeline, next(iter(queues.values()))


def load_for_test_by_producer(
    path: str | os.PathLike[str],
    overrides: Sequence[str | Override] = (),
    env: Mapping[str, str] | None = None,
    telemetry: Telemetry | None = None,
) -> tuple[Pipeline, dict[str, MemoryQueue]]:
    """As :func:`load_for_test`, with each producer's queue by the producer's name.

    One producer (``producer:``): one queue, ``<pipeline>-under-test``, named
    as the pipeline names its producer. ``producers:``: a queue per named
    producer, ``<pipeline>-<producer>-under-test``.
    """
    parsed = [o if isinstance(o, Override) else parse_set(o) for o in overrides]
    loaded = load_config(path, parsed, env)
    broker = MemoryBroker(record=True)
    name = loaded.spec.name
    if loaded.named:
        queues = {p: broker.queue(f"{name}-{p}-under-test") for p in loaded.named}
    else:
        queues = {DEFAULT_PRODUCER: broker.queue(f"{name}-under-test")}
    return build_pipeline(_fed_by(loaded, queues), telemetry), queues


def _fed_by(loaded: LoadedConfig, queues: Mapping[str, MemoryQueue]) -> LoadedConfig:
    """``loaded`` with each producer reading its queue of ``queues`` in place of its broker.

    Each connector keeps its name, its options and its ``partition_by: key``
    check (see :func:`_under_test`), so whatever the builder refuses for the
    file's connector it refuses here, naming that connector.
    """
    if not loaded.named:
        connector = _under_test(loaded.connector, queues[DEFAULT_PRODUCER])
        return dataclasses.replace(loaded, connector=connector)
    named = {
        name: (_under_test(connector, queues[name]), options)
        for name, (connector, options) in loaded.named.items()
    }
    first = next(iter(named.values()))[0]
    return dataclasses.replace(loaded, connector=first, named=named)


def _under_test(connector: Connector, queue: MemoryQueue) -> Connector:
    """``connector`` fed by ``queue``: no broker, so none of the broker's own ordering."""

    def producer_factory(options: BaseModel, *, demand: int) -> Callable[[], Producer]:
        return MemoryProducer.factory(queue)

    def ordering_key(options: BaseModel) -> Callable[[Message], Hashable] | None:
        return None

    return dataclasses.replace(
        connector,
        producer_factory=producer_factory,
        ordering_key=ordering_key,
        key_ordering=_by_pushed_key(connector.key_ordering),
    )


def _by_pushed_key(file_key_ordering: KeyOrderingMaker | None) -> KeyOrderingMaker | None:
    """``partition_by: key`` under test: the file's connector's check, then the pushed key.

    None (refused, as by the file's connector) when that connector has none.
    """
    if file_key_ordering is None:
        return None

    def key_ordering(options: BaseModel) -> Callable[[Message], Hashable]:
        file_key_ordering(options)  # the file's own refusals (Kafka's ordered: true)
        return metadata_key(KEY)

    return key_ordering


class PipelineHarness:
    """A started pipeline of a file and the in-memory queues that feed it.

    Two ways in: :meth:`test_message` / :meth:`test_batch` hand messages to
    the pipeline and return them once acknowledged, with their outcome;
    :meth:`push` puts raw data on a producer's queue, which the producer
    stage takes as it takes a broker's deliveries (retries come back with
    ``attempt + 1``, dead letters land in :attr:`dead_letters`), and
    :meth:`settle` waits until every queue is idle. Both go through the
    producer's decode and transformer. With ``producers:``, ``producer=``
    names the producer a message comes through (default: the first).
    With ``partition_by: key``, a message's key is ``metadata={"key": ...}``.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        queue: MemoryQueue,
        queues: Mapping[str, MemoryQueue] | None = None,
    ) -> None:
        """``queue``: the first (or only) producer's; ``queues``: each producer's, by name."""
        self.pipeline = pipeline
        self.queue = queue
        self.queues: dict[str, MemoryQueue] = (
            dict(queues) if queues else {next(iter(pipeline.producer_specs)): queue}
        )

    async def test_message(
        self,
        data: Any,
        metadata: dict[str, Any] | None = None,
        batch_mode: BatchMode = "flush",
        producer: str | None = None,
    ) -> Message:
        """:meth:`Pipeline.test_message <broadway_py.pipeline.Pipeline.test_message>`."""
        return await self.pipeline.test_message(data, metadata, batch_mode, producer)

    async def test_batch(
        self,
        data: Sequence[Any],
        metadata: dict[str, Any] | None = None,
        batch_mode: BatchMode = "bulk",
        producer: str | None = None,
    ) -> list[Message]:
        """:meth:`Pipeline.test_batch <broadway_py.pipeline.Pipeline.test_batch>`."""
        return await self.pipeline.test_batch(data, metadata, batch_mode, producer)

    def push(
        self, data: Any, metadata: dict[str, Any] | None = None, *, producer: str | None = None
    ) -> int:
        """Put ``data`` (bytes, as a broker delivers it) on a producer's queue; returns its id.

        ``producer``: the name of the producer it comes through (default: the
        first); ValueError for a name the file does not have. Ids count per
        queue: ask :meth:`outcomes` with the same ``producer``.
        """
        return self._queue_of(producer).push(data, metadata)

    async def settle(self, timeout: float = DEFAULT_SETTLE_TIMEOUT) -> None:
        """Wait until everything pushed, to every queue, was acknowledged, retries included.

        A retry waits out its delay first: override ``retry.min_delay`` /
        ``retry.max_delay`` to make them short. TimeoutError after ``timeout``.
        """
        async with asyncio.timeout(timeout):
            while busy := [q for q in self.queues.values() if not q.is_idle()]:
                await busy[0].wait_idle(timeout)

    def outcomes(self, message_id: int, producer: str | None = None) -> list[str]:
        """What became of each delivery of a pushed message, in order.

        ``"acked"``, ``"retried"``, ``"dead_lettered"`` or ``"discarded"``;
        ``producer``: the one it was pushed through (default: the first).
        """
        queue = self._queue_of(producer)
        assert queue.outcomes is not None  # the harness's queues record them
        return list(queue.outcomes.by_id.get(message_id, ()))

    @property
    def dead_letters(self) -> list[DeadLetter]:
        """Every queue's dead letters, producer by producer (``metadata["queue"]`` says whose)."""
        if len(self.queues) == 1:
            return self.queue.dead_letters
        return [letter for queue in self.queues.values() for letter in queue.dead_letters]

    @property
    def stats(self) -> QueueStats:
        """The queue's counts; with several producers, the sums of every queue's."""
        if len(self.queues) == 1:
            return self.queue.stats
        each = [queue.stats for queue in self.queues.values()]
        return QueueStats(
            **{
                f.name: sum(getattr(s, f.name) for s in each)
                for f in dataclasses.fields(QueueStats)
            }
        )

    def _queue_of(self, producer: str | None) -> MemoryQueue:
        if producer is None:
            return self.queue
        queue = self.queues.get(producer)
        if queue is None:
            raise ValueError(
                f"no producer named {producer!r}; the pipeline's producers: "
                f"{', '.join(self.queues)}"
            )
        return queue


@asynccontextmanager
async def pipeline_from_file(
    path: str | os.PathLike[str],
    overrides: Sequence[str | Override] = (),
    env: Mapping[str, str] | None = None,
    telemetry: Telemetry | None = None,
) -> AsyncIterator[PipelineHarness]:
    """Load the file as :func:`load_for_test` does, start it, and stop (drain) it on exit."""
    pipeline, queues = load_for_test_by_producer(path, overrides, env, telemetry)
    async with pipeline:
        yield PipelineHarness(pipeline, next(iter(queues.values())), queues)


class PipelineFiles:
    """Opens pipeline files onto ``stack``, which stops them when it closes.

    What the ``broadway_pipeline`` fixture gives a test: call it with a file.
    """

    def __init__(self, stack: AsyncExitStack, directory: str | os.PathLike[str] = ".") -> None:
        self.directory = Path(directory)
        self._stack = stack

    async def __call__(
        self,
        path: str | os.PathLike[str],
        overrides: Sequence[str | Override] = (),
        env: Mapping[str, str] | None = None,
    ) -> PipelineHarness:
        """Start the pipeline of ``path`` (a relative one is read from ``directory``).

        ``overrides``: ``--set`` arguments such as ``"retry.max_attempts=1"``;
        ``env``: what ``${VAR}`` reads (the process environment when None).
        """
        found = self.directory / path
        return await self._stack.enter_async_context(pipeline_from_file(found, overrides, env))
