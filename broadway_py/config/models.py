"""The pipeline file's schema: pydantic models, unknown keys forbidden everywhere.

These models hold plain data (import paths stay strings); the loader resolves
the references and each connector validates its own section with its own
``Options`` model. The sections of the core's option objects (``processors``,
``batchers``, ``rate_limit``, ``retry``, ``shutdown``, ``supervisor``) are
derived from them (:mod:`broadway_py.schema.sections`): an option is defined
once, on its core field. See docs/configuration.md for the user-facing reference.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

from broadway_py import options as core
from broadway_py.decoding import FORMATS, Format
from broadway_py.option_spec import WEEK, Option
from broadway_py.options import MAX_WORKERS
from broadway_py.pipeline import MAX_PRODUCERS, PRODUCER_NAME
from broadway_py.retry import RetryPolicy
from broadway_py.schema.fields import Seconds
from broadway_py.schema.sections import MAX_REFERENCES, field_of, section_model

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
LogFormat = Literal["plain", "json"]

CONNECTOR_KEYS = ("memory", "generator", "kafka", "rabbitmq", "sqs")
"""The producer types; a producer section names exactly one."""

SECTIONS: dict[str, tuple[type, dict[str, Option] | None]] = {
    "producer": (core.ProducerOptions, None),
    "processors": (core.ProcessorOptions, None),
    "batchers": (core.BatcherOptions, None),
    "rate_limit": (core.RateLimitOptions, None),
    "retry": (RetryPolicy, None),
    "shutdown": (core.ShutdownOptions, None),
    "supervisor": (core.SupervisorOptions, None),
}
"""The sections whose options a core object defines (its class, and the options' Options
when its fields do not carry them), in the docs' order."""

MAX_BATCHERS = 100
MAX_PROCESSES = 256
"""Most worker processes one ``run`` may start (``workers``)."""
SINGLE_PROCESS_PRODUCERS = ("memory", "generator")
"""Producers that live inside one process: each worker would have its own."""
MAX_LIST = MAX_REFERENCES
"""Most items of a list of names (never_retry, loggers...)."""

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")


def _none_is_empty(value: Any) -> Any:
    """``processors:`` with nothing under it means "all defaults"."""
    return {} if value is None else value


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


Section = BeforeValidator(_none_is_empty)
Level = Annotated[LogLevel, BeforeValidator(_upper)]


class Spec(BaseModel):
    """Base of every section: unknown keys are errors; numbers are accepted as text."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)


def check_name(value: str, what: str) -> str:
    if not _NAME.match(value):
        raise ValueError(
            f"{what} {value!r} may hold only letters, digits, '_', '-' and '.', "
            "and starts with a letter or digit"
        )
    return value


_DECODE_FORMS = f"{', '.join(FORMATS)} or {{format: json, model: package.module:Class}}"


def _decode_form(value: Any) -> Any:
    """``decode: json`` is short for ``decode: {format: json}``."""
    if isinstance(value, str) and value in FORMATS:
        return {"format": value}
    if isinstance(value, dict):
        return value
    shown = repr(value) if isinstance(value, str | int | float | bool) else type(value).__name__
    raise ValueError(f"should be {_DECODE_FORMS}, not {shown}")


class DecodeSpec(Spec):
    """``decode``: a format, and for json optionally a pydantic model to parse into."""

    format: Format = Field(default="json", description="json, text (UTF-8) or bytes.")
    model: str | None = Field(
        default=None,
        description="package.module:Class of a pydantic model: message data is parsed and "
        "validated into one (json only).",
    )

    @model_validator(mode="after")
    def _model_needs_json(self) -> DecodeSpec:
        if self.model is not None and self.format != "json":
            raise ValueError(f"model needs format json, not {self.format}")
        return self

    @model_serializer(mode="wrap")
    def _short(self, handler: SerializerFunctionWrapHandler) -> Any:
        """Written back as ``json`` when there is no model (echo, --set)."""
        return self.format if self.model is None else handler(self)

    def __str__(self) -> str:
        return self.format if self.model is None else f"{self.format} as {self.model}"


class ProducerSpec(Spec):
    """Where messages come from: exactly one producer type, plus generic settings."""

    memory: dict[str, Any] | None = Field(default=None, description="An in-memory queue.")
    generator: dict[str, Any] | None = Field(default=None, description="Synthetic messages.")
    kafka: dict[str, Any] | None = Field(default=None, description="Kafka topics.")
    rabbitmq: dict[str, Any] | None = Field(default=None, description="A RabbitMQ queue.")
    sqs: dict[str, Any] | None = Field(default=None, description="An SQS queue.")
    provision: bool = Field(
        default=False,
        description="At start, create what the pipeline reads and writes on its broker when "
        "it is missing, as `broadway-py provision` does; a mismatch fails the start.",
    )
    concurrency: int = field_of(core.ProducerOptions, "concurrency")
    decode: Annotated[DecodeSpec, BeforeValidator(_decode_form)] = Field(
        default=DecodeSpec(format="bytes"),
        description="How message data is decoded before the handler sees it: json, "
        "text (UTF-8), bytes (as delivered), or {format: json, model: package.module:Class} "
        "(a pydantic model). A message that does not decode is dead-lettered, never retried.",
    )
    transformer: str | None = Field(
        default=None,
        description="package.module:function run on each message after decoding; "
        "it returns the message.",
    )
    acknowledge: core.Acknowledge = field_of(core.ProducerOptions, "acknowledge")


def _demand(spec: Any) -> Any:
    if spec.min_demand is not None and spec.min_demand >= spec.max_demand:
        raise ValueError(
            f"min_demand ({spec.min_demand}) must be below max_demand ({spec.max_demand})"
        )
    return spec


def _delays(spec: Any) -> Any:
    if spec.max_delay < spec.min_delay:
        raise ValueError(
            f"max_delay ({spec.max_delay:g}) must be at least min_delay ({spec.min_delay:g})"
        )
    return spec


if TYPE_CHECKING:

    class Derived(Spec):
        """A section derived from a core option object: its fields are the object's options."""

        def __getattr__(self, name: str) -> Any: ...

    ProcessorsSpec = Derived
    BatcherSpec = Derived
    RateLimitSpec = Derived
    RetrySpec = Derived
    ShutdownSpec = Derived
    SupervisorSpec = Derived
else:

    def _section(name: str, section: str, doc: str, **validators: Any) -> type[BaseModel]:
        made, described = SECTIONS[section]
        checks = {key: model_validator(mode="after")(check) for key, check in validators.items()}
        return section_model(name, made, Spec, doc, described, checks)

    ProcessorsSpec = _section(
        "ProcessorsSpec", "processors", "The processors that run handle_message.", _demand=_demand
    )
    BatcherSpec = _section("BatcherSpec", "batchers", "A named batcher and its batch processors.")
    RateLimitSpec = _section(
        "RateLimitSpec", "rate_limit", "At most allowed_messages leave per interval seconds."
    )
    RetrySpec = _section("RetrySpec", "retry", "How failed messages are retried.", _delays=_delays)
    ShutdownSpec = _section("ShutdownSpec", "shutdown", "How a drain ends.")
    SupervisorSpec = _section("SupervisorSpec", "supervisor", "How often a stage may crash.")


class DeadLetterSpec(Spec):
    """Where dead letters go, for connectors that publish them somewhere."""

    destination: str | None = Field(
        default=None,
        description="The dead-letter queue / topic, passed to the connector's own option.",
    )


class HttpSpec(Spec):
    """The HTTP port: /metrics, /healthz, /readyz, /status."""

    enabled: bool = Field(default=True, description="Serve the HTTP endpoints.")
    host: str = Field(
        default="127.0.0.1",
        min_length=1,
        description="Address to listen on; 0.0.0.0 to be reachable from other hosts "
        "(in a container).",
    )
    port: int = Field(default=9400, ge=0, le=65535, description="Port; 0 picks a free one.")
    stall_window: Seconds = Field(
        default=60.0,
        description="/readyz turns not-ready when no message was acknowledged for this "
        "many seconds while messages are in flight.",
    )
    admin: bool = Field(default=False, description="Allow endpoints that change the pipeline.")


class LoggingSpec(Spec):
    level: Level = Field(default="INFO", description="DEBUG, INFO, WARNING, ERROR or CRITICAL.")
    format: LogFormat = Field(
        default="plain", description="plain text or json, one line per event."
    )
    payloads: bool = Field(default=False, description="Allow message payloads in log records.")
    progress_interval: float | None = Field(
        default=None,
        gt=0,
        le=WEEK,
        description="Log a progress line every this many seconds.",
    )
    loggers: dict[str, Level] = Field(
        default_factory=dict,
        max_length=MAX_LIST,
        description="Levels of particular loggers, e.g. aiokafka: WARNING.",
    )


class TracingSpec(Spec):
    """OpenTelemetry tracing of each message and batch (the otel extra; docs/tracing.md)."""

    enabled: bool = Field(
        default=False,
        description="Trace each message and batch with OpenTelemetry (needs the otel extra).",
    )


class PipelineSpec(Spec):
    """A pipeline file."""

    name: str = Field(description="The pipeline's name (in metrics and logs).")
    handler: str = Field(description="package.module:attribute: a function or Handler class.")
    # With producers: the first of them (the loader refuses a file that sets both).
    # Never None once validated (_first_producer fills it in, or refuses the file).
    producer: ProducerSpec = Field(default=None)  # type: ignore[assignment]
    producers: dict[str, ProducerSpec] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_PRODUCERS,
        description="Several producers by name (a-z, 0-9, '_', '-'; at most 16), each a "
        "producer block, feeding the same processors and batchers; instead of producer.",
    )
    processors: Annotated[ProcessorsSpec, Section] = ProcessorsSpec()
    batchers: Annotated[dict[str, Annotated[BatcherSpec, Section]], Section] = Field(
        default_factory=dict, max_length=MAX_BATCHERS
    )
    rate_limit: RateLimitSpec | None = None
    retry: Annotated[RetrySpec, Section] = RetrySpec()
    dead_letter: Annotated[DeadLetterSpec, Section] = DeadLetterSpec()
    shutdown: Annotated[ShutdownSpec, Section] = ShutdownSpec()
    supervisor: Annotated[SupervisorSpec, Section] = SupervisorSpec()
    http: Annotated[HttpSpec, Section] = HttpSpec()
    logging: Annotated[LoggingSpec, Section] = LoggingSpec()
    tracing: Annotated[TracingSpec, Section] = TracingSpec()
    workers: int = Field(
        default=1,
        ge=1,
        le=MAX_PROCESSES,
        description="Worker processes, each running the whole pipeline, supervised by one "
        "parent that serves the HTTP port (--workers and BROADWAY_WORKERS override it).",
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_name(value, "a pipeline name")

    @field_validator("producers")
    @classmethod
    def _producer_names(
        cls, value: dict[str, ProducerSpec] | None
    ) -> dict[str, ProducerSpec] | None:
        for name in value or {}:
            if not PRODUCER_NAME.match(name):
                raise ValueError(
                    f"producer name {name!r}: 1 to 40 of a-z, 0-9, '_' and '-' "
                    "(it is the producer label of the per-producer metrics)"
                )
        return value

    @model_validator(mode="after")
    def _first_producer(self) -> PipelineSpec:
        """``producer`` is the only producer, or the first of ``producers``."""
        if self.producer is None:
            if not self.producers:
                raise ValueError(
                    "missing required key 'producer' (one producer) or 'producers' (several)"
                )
            self.producer = next(iter(self.producers.values()))
        return self

    @field_validator("workers")
    @classmethod
    def _one_process_producers(cls, value: int, info: ValidationInfo) -> int:
        producers = [info.data.get("producer"), *(info.data.get("producers") or {}).values()]
        for key, producer in ((k, p) for k in SINGLE_PROCESS_PRODUCERS for p in producers):
            if value > 1 and producer is not None and getattr(producer, key) is not None:
                raise ValueError(
                    f"a {key} producer runs inside one process: with {value} workers each "
                    f"would have its own "
                    + ("in-memory broker" if key == "memory" else "generated stream")
                    + "; use workers: 1"
                )
        return value

    @field_validator("batchers")
    @classmethod
    def _batch_processors(cls, value: dict[str, BatcherSpec]) -> dict[str, BatcherSpec]:
        total = sum(batcher.concurrency for batcher in value.values())
        if total > MAX_WORKERS:
            raise ValueError(
                f"{total} batch processors in all (the sum of every batcher's concurrency); "
                f"at most {MAX_WORKERS}"
            )
        return value
