"""Builds a :class:`~broadway_py.pipeline.Pipeline` from a loaded pipeline file.

Everything is checked here, once; nothing of the config layer is left on the
hot path except the decode step. A check that core makes when the pipeline is
constructed (``processors.min_demand`` below ``max_demand``...) is reported at
the position of the option it names; every option object is made, so all such
problems are reported together. An option object is made from its section
of the file as it is (the section is derived from the object: the same names),
with the references resolved: adding an option to a core option object adds
it here too.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel

from broadway_py import options as core
from broadway_py.config.loader import LoadedConfig, load_config, problem_at
from broadway_py.config.overrides import Override
from broadway_py.config.problems import ConfigFileError, Problem
from broadway_py.decoding import Decode
from broadway_py.errors import ConfigurationError
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


def from_section(make: Callable[..., T], section: BaseModel, **resolved: Any) -> T:
    """``make`` called with each option of ``section`` as given, and the ``resolved`` references."""
    return make(**{**section.model_dump(), **resolved})


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
        lambda: core.ProducerOptions(
            factory,
            concurrency=spec.producer.concurrency,
            transformer=refs.transformer,
            decode=Decode(spec.producer.decode.format, model=refs.decode_model),
        )
    )
    processor_options = made(
        lambda: from_section(
            core.ProcessorOptions, processors, partition_by=refs.processor_partition or ordering
        )
    )
    batchers = [
        made(
            lambda name=name, batcher=batcher: from_section(  # type: ignore[misc]
                core.BatcherOptions,
                batcher,
                name=name,
                partition_by=refs.batcher_partitions.get(name) or ordering,
            )
        )
        for name, batcher in spec.batchers.items()
    ]
    limit = spec.rate_limit
    rate_limit = made(lambda: from_section(core.RateLimitOptions, limit)) if limit else None
    policy = made(lambda: from_section(RetryPolicy, spec.retry, never_retry=refs.never_retry))
    shutdown = made(lambda: from_section(core.ShutdownOptions, spec.shutdown))
    supervisor = made(lambda: from_section(core.SupervisorOptions, spec.supervisor))
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
