"""Builds a :class:`~broadway_py.pipeline.Pipeline` from a loaded pipeline file.

Everything is checked here, once; nothing of the config layer is left on the
hot path except the decode step. A check that core makes when the pipeline is
constructed (``processors.min_demand`` below ``max_demand``...) is reported at
the position of the option it names; every option object is made, so all such
problems are reported together.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

from broadway_py.config.decode import transformer
from broadway_py.config.loader import LoadedConfig, load_config, problem_at
from broadway_py.config.overrides import Override
from broadway_py.config.problems import ConfigFileError, Problem
from broadway_py.errors import ConfigurationError
from broadway_py.options import (
    BatcherOptions,
    ProcessorOptions,
    ProducerOptions,
    RateLimitOptions,
    ShutdownOptions,
    SupervisorOptions,
)
from broadway_py.pipeline import Pipeline
from broadway_py.retry import RetryPolicy
from broadway_py.telemetry import Telemetry

T = TypeVar("T")


def build_pipeline(loaded: LoadedConfig, telemetry: Telemetry | None = None) -> Pipeline:
    """The pipeline the file describes (not started). Raises ConfigFileError."""
    try:
        return _build(loaded, telemetry)
    except ConfigurationError as error:
        raise ConfigFileError([problem_at(loaded.positions, error.option, str(error))]) from None
    except (ValueError, TypeError) as error:
        name = loaded.connector.name
        raise ConfigFileError(
            [problem_at(loaded.positions, f"producer.{name}", f"producer.{name}: {error}")]
        ) from None


def load_pipeline(
    path: str | os.PathLike[str],
    overrides: Sequence[Override] = (),
    env: Mapping[str, str] | None = None,
    telemetry: Telemetry | None = None,
) -> tuple[LoadedConfig, Pipeline]:
    """Load, validate and build in one go. Raises ConfigFileError."""
    loaded = load_config(path, overrides, env)
    return loaded, build_pipeline(loaded, telemetry)


def _build(loaded: LoadedConfig, telemetry: Telemetry | None) -> Pipeline:
    spec = loaded.spec
    refs = loaded.references
    connector = loaded.connector
    processors = spec.processors
    found: list[Problem] = []

    def made(make: Callable[[], T]) -> T | None:
        """``make()``, or None after noting its ConfigurationError (all are reported)."""
        try:
            return make()
        except ConfigurationError as error:
            found.append(problem_at(loaded.positions, error.option, str(error)))
            return None

    demand = processors.concurrency * processors.max_demand
    factory = connector.producer_factory(loaded.options, demand=demand)
    ordering = connector.ordering_key(loaded.options)
    producer = made(
        lambda: ProducerOptions(
            factory,
            concurrency=spec.producer.concurrency,
            transformer=transformer(
                spec.producer.decode, refs.transformer, spec.producer.transformer or ""
            ),
        )
    )
    processor_options = made(
        lambda: ProcessorOptions(
            concurrency=processors.concurrency,
            max_demand=processors.max_demand,
            min_demand=processors.min_demand,
            partition_by=refs.processor_partition or ordering,
            executor=processors.executor,
        )
    )
    batchers = [
        made(
            lambda name=name, batcher=batcher: BatcherOptions(  # type: ignore[misc]
                name=name,
                batch_size=batcher.batch_size,
                batch_timeout=batcher.batch_timeout,
                concurrency=batcher.concurrency,
                max_bytes=batcher.max_bytes,
                partition_by=refs.batcher_partitions.get(name) or ordering,
            )
        )
        for name, batcher in spec.batchers.items()
    ]
    limit = spec.rate_limit
    rate_limit = (
        made(lambda: RateLimitOptions(limit.allowed_messages, limit.interval))
        if limit is not None
        else None
    )
    retry = spec.retry
    policy = made(
        lambda: RetryPolicy(
            max_attempts=retry.max_attempts,
            min_delay=retry.min_delay,
            max_delay=retry.max_delay,
            multiplier=retry.multiplier,
            jitter=retry.jitter,
            never_retry=refs.never_retry,
            dead_letter=retry.dead_letter,
        )
    )
    shutdown = made(lambda: ShutdownOptions(spec.shutdown.drain_timeout))
    supervisor = made(
        lambda: SupervisorOptions(spec.supervisor.max_restarts, spec.supervisor.max_seconds)
    )
    if found:
        raise ConfigFileError(found)
    assert producer is not None
    assert processor_options is not None
    assert policy is not None
    return Pipeline(
        spec.name,
        handler=refs.handler,
        producer=producer,
        processors=processor_options,
        batchers=[b for b in batchers if b is not None],
        rate_limit=rate_limit,
        retry=policy,
        shutdown=shutdown,
        supervisor=supervisor,
        telemetry=telemetry,
    )
