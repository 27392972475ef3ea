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

import dataclasses
import itertools
import os
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel

from broadway_py import options as core
from broadway_py.acknowledger import AckedOnReceive
from broadway_py.config.loader import LoadedConfig, References, load_config, problem_at
from broadway_py.config.overrides import Override
from broadway_py.config.problems import ConfigFileError, Problem
from broadway_py.config.references import with_record_keys
from broadway_py.connectors.registry import Connector
from broadway_py.decoding import Decode
from broadway_py.errors import ConfigurationError
from broadway_py.message import Message
from broadway_py.pipeline import Pipeline
from broadway_py.retry import RetryPolicy
from broadway_py.telemetry import Telemetry
from broadway_py.tracer import MessageTracer

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


def _named_producer(
    loaded: LoadedConfig, refs: References, name: str, demand: int
) -> core.ProducerOptions:
    """The options of ``producers.<name>``: its connector, and each generic setting it has."""
    assert loaded.spec.producers is not None
    section = loaded.spec.producers[name]
    connector, options = loaded.named[name]
    generic = {
        f.name: getattr(section, f.name)
        for f in dataclasses.fields(core.ProducerOptions)
        if f.init
        and f.name not in ("producer", "transformer", "decode")
        and hasattr(section, f.name)
    }
    return core.ProducerOptions(
        connector.producer_factory(options, demand=demand),
        transformer=refs.transformers.get(name),
        decode=Decode(section.decode.format, model=refs.decode_models.get(name)),
        **generic,
    )


def ordering_of_each(
    producers: Sequence[tuple[Connector, Any]],
) -> Callable[[Message], Hashable] | None:
    """The default ``partition_by`` of several producers: each message's own connector's key.

    None when no producer has an ordering key; that key when they all are of
    one kind. Otherwise a key that asks which connector delivered the message
    (the package of its acknowledger, ``broadway_py.connectors.<name>``) and
    uses that connector's ordering key; a message whose connector has none
    (or whose key is None, e.g. a standard SQS queue) goes to the next
    processor in turn, as without ``partition_by``.
    """
    keys: dict[str, Callable[[Message], Hashable]] = {}
    for connector, options in producers:
        key = connector.ordering_key(options)
        if key is not None:
            keys.setdefault(connector.name, key)
    if not keys:
        return None
    if len(keys) == 1 and len({connector.name for connector, _ in producers}) == 1:
        return next(iter(keys.values()))
    by_acknowledger: dict[type, Callable[[Message], Hashable] | None] = {}
    spread = itertools.count()

    def each_own(message: Message) -> Hashable:
        acknowledger = message.acknowledger
        if isinstance(acknowledger, AckedOnReceive):  # acknowledge: on_receive
            acknowledger = acknowledger.replaced
        kind = type(acknowledger)
        if kind in by_acknowledger:
            key_of = by_acknowledger[kind]
        else:
            package = kind.__module__.split(".")
            name = package[2] if package[:2] == ["broadway_py", "connectors"] else ""
            key_of = by_acknowledger[kind] = keys.get(name)
        key = None if key_of is None else key_of(message)
        return next(spread) if key is None else key

    each_own.__qualname__ = each_own.__name__ = "each producer's ordering key"
    return each_own


def _build(loaded: LoadedConfig, telemetry: Telemetry | None) -> Pipeline:
    spec = loaded.spec
    each = list(loaded.named.values()) or [(loaded.connector, loaded.options)]
    refs = with_record_keys(loaded.references, each)  # partition_by: key
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
    if loaded.named:  # several producers: each message keeps its own connector's order
        ordering = ordering_of_each(list(loaded.named.values()))
    producer = made(
        lambda: core.ProducerOptions(
            factory,
            concurrency=spec.producer.concurrency,
            transformer=refs.transformer,
            decode=Decode(spec.producer.decode.format, model=refs.decode_model),
            acknowledge=spec.producer.acknowledge,
        )
    )
    named = {
        name: made(lambda name=name: _named_producer(loaded, refs, name, demand))  # type: ignore[misc]
        for name in loaded.named
    }
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
    tracer = made(lambda: _tracer(spec.name)) if spec.tracing.enabled else None
    if found:
        raise ConfigFileError(found)
    assert producer is not None
    assert processor_options is not None
    assert policy is not None
    return Pipeline(
        spec.name,
        handler=refs.handler,
        producer=None if named else producer,
        producers={n: p for n, p in named.items() if p is not None} if named else None,
        processors=processor_options,
        batchers=[b for b in batchers if b is not None],
        rate_limit=rate_limit,
        retry=policy,
        shutdown=shutdown,
        supervisor=supervisor,
        telemetry=telemetry,
        tracer=tracer,
    )


def _tracer(name: str) -> MessageTracer:
    """The OpenTelemetry tracer of ``tracing: {enabled: true}`` (the otel extra)."""
    try:
        from broadway_py.otel import OpenTelemetryTracer
    except ImportError as error:
        raise ConfigurationError(
            "tracing.enabled",
            f"tracing needs the otel extra: pip install 'broadway-py[otel]' ({error})",
        ) from None
    return OpenTelemetryTracer(name)
