"""A pipeline file built for a test: its producer swapped for an in-memory queue.

The swap is made where the file's connector is chosen, so the builder (the
one that ``broadway-py run`` uses) builds everything else as it always does.
What depends on the file's broker goes with it: the connector's default
ordering key (Kafka's ``(topic, partition)``) does not apply to the
in-memory messages (a ``partition_by`` the file sets still does), and dead
letters land in :attr:`PipelineHarness.dead_letters`, not in the file's
``dead_letter.destination``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

from broadway_py.config.builder import build_pipeline
from broadway_py.config.loader import LoadedConfig, load_config
from broadway_py.config.overrides import Override, parse_set
from broadway_py.connectors import registry
from broadway_py.connectors.memory import (
    DeadLetter,
    MemoryBroker,
    MemoryOptions,
    MemoryProducer,
    MemoryQueue,
    QueueStats,
)
from broadway_py.message import BatchMode, Message
from broadway_py.pipeline import Pipeline
from broadway_py.producer import Producer
from broadway_py.telemetry import Telemetry

DEFAULT_SETTLE_TIMEOUT = 10.0
"""Seconds :meth:`PipelineHarness.settle` waits for the queue to be idle."""


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
    """
    parsed = [o if isinstance(o, Override) else parse_set(o) for o in overrides]
    loaded = load_config(path, parsed, env)
    queue = MemoryBroker(record=True).queue(f"{loaded.spec.name}-under-test")
    return build_pipeline(_fed_by(loaded, queue), telemetry), queue


def _fed_by(loaded: LoadedConfig, queue: MemoryQueue) -> LoadedConfig:
    """``loaded`` with the memory connector reading ``queue`` in place of its producer."""
    memory = registry.load("memory")

    def producer_factory(options: MemoryOptions, *, demand: int) -> Callable[[], Producer]:
        return MemoryProducer.factory(queue)

    connector = dataclasses.replace(memory, producer_factory=producer_factory)
    return dataclasses.replace(loaded, connector=connector, options=MemoryOptions(queue=queue.name))


class PipelineHarness:
    """A started pipeline of a file and the in-memory queue that feeds it.

    Two ways in: :meth:`test_message` / :meth:`test_batch` hand messages to
    the pipeline and return them once acknowledged, with their outcome;
    :meth:`push` puts raw data on the queue, which the producer stage takes
    as it takes a broker's deliveries (retries come back with ``attempt + 1``,
    dead letters land in :attr:`dead_letters`), and :meth:`settle` waits
    until the queue is idle. Both go through the producer's decode and
    transformer.
    """

    def __init__(self, pipeline: Pipeline, queue: MemoryQueue) -> None:
        self.pipeline = pipeline
        self.queue = queue

    async def test_message(
        self,
        data: Any,
        metadata: dict[str, Any] | None = None,
        batch_mode: BatchMode = "flush",
    ) -> Message:
        """:meth:`Pipeline.test_message <broadway_py.pipeline.Pipeline.test_message>`."""
        return await self.pipeline.test_message(data, metadata, batch_mode)

    async def test_batch(
        self,
        data: Sequence[Any],
        metadata: dict[str, Any] | None = None,
        batch_mode: BatchMode = "bulk",
    ) -> list[Message]:
        """:meth:`Pipeline.test_batch <broadway_py.pipeline.Pipeline.test_batch>`."""
        return await self.pipeline.test_batch(data, metadata, batch_mode)

    def push(self, data: Any, metadata: dict[str, Any] | None = None) -> int:
        """Put ``data`` (bytes, as a broker delivers it) on the queue; returns its id."""
        return self.queue.push(data, metadata)

    async def settle(self, timeout: float = DEFAULT_SETTLE_TIMEOUT) -> None:
        """Wait until everything pushed was acknowledged, retries included.

        A retry waits out its delay first: override ``retry.min_delay`` /
        ``retry.max_delay`` to make them short. TimeoutError after ``timeout``.
        """
        await self.queue.wait_idle(timeout)

    def outcomes(self, message_id: int) -> list[str]:
        """What became of each delivery of a pushed message, in order.

        ``"acked"``, ``"retried"``, ``"dead_lettered"`` or ``"discarded"``.
        """
        assert self.queue.outcomes is not None  # the harness's queue records them
        return list(self.queue.outcomes.by_id.get(message_id, ()))

    @property
    def dead_letters(self) -> list[DeadLetter]:
        return self.queue.dead_letters

    @property
    def stats(self) -> QueueStats:
        return self.queue.stats


@asynccontextmanager
async def pipeline_from_file(
    path: str | os.PathLike[str],
    overrides: Sequence[str | Override] = (),
    env: Mapping[str, str] | None = None,
    telemetry: Telemetry | None = None,
) -> AsyncIterator[PipelineHarness]:
    """Load the file as :func:`load_for_test` does, start it, and stop (drain) it on exit."""
    pipeline, queue = load_for_test(path, overrides, env, telemetry)
    async with pipeline:
        yield PipelineHarness(pipeline, queue)


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
