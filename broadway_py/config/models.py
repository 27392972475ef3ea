"""The pipeline file's schema: pydantic models, unknown keys forbidden everywhere.

These models hold plain data (import paths stay strings); the loader resolves
the references and each connector validates its own section with its own
``Options`` model. See docs/configuration.md for the user-facing reference.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from broadway_py.options import RATE_LIMIT_INTERVAL, RATE_LIMIT_MESSAGES

Decode = Literal["json", "text", "bytes"]
Executor = Literal["loop", "thread"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
LogFormat = Literal["plain", "json"]

CONNECTOR_KEYS = ("memory", "generator", "kafka", "rabbitmq", "sqs")
"""The producer types; a producer section names exactly one."""

MAX_PRODUCERS = 1_000
MAX_WORKERS = 10_000
"""Most processors, and most batch processors of one batcher."""
MAX_DEMAND = 100_000
MAX_BATCH_SIZE = 1_000_000
MAX_BATCH_BYTES = 1 << 34
MAX_BATCHERS = 100
MAX_ATTEMPTS = 1_000
MAX_MULTIPLIER = 100.0
MAX_RESTARTS = 10_000
MAX_SECONDS = 7 * 24 * 3600.0
"""Every duration (timeouts, intervals, delays) is at most a week."""
MAX_LIST = 1_000
"""Most items of a list of names (never_retry...)."""

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


class ProducerSpec(Spec):
    """Where messages come from: exactly one producer type, plus generic settings."""

    memory: dict[str, Any] | None = Field(default=None, description="An in-memory queue.")
    generator: dict[str, Any] | None = Field(default=None, description="Synthetic messages.")
    kafka: dict[str, Any] | None = Field(default=None, description="Kafka topics.")
    rabbitmq: dict[str, Any] | None = Field(default=None, description="A RabbitMQ queue.")
    sqs: dict[str, Any] | None = Field(default=None, description="An SQS queue.")
    concurrency: int = Field(
        default=1, ge=1, le=MAX_PRODUCERS, description="Producer stages (broker consumers)."
    )
    decode: Decode = Field(
        default="bytes",
        description="How message data is decoded before the handler sees it: json, "
        "text (UTF-8) or bytes (as delivered). A message that does not decode is "
        "dead-lettered, never retried.",
    )
    transformer: str | None = Field(
        default=None,
        description="package.module:function run on each message after decoding; "
        "it returns the message.",
    )


class ProcessorsSpec(Spec):
    """The processors that run handle_message."""

    concurrency: int = Field(default=4, ge=1, le=MAX_WORKERS, description="Processor workers.")
    max_demand: int = Field(
        default=100, ge=1, le=MAX_DEMAND, description="Most messages a worker takes at once."
    )
    min_demand: int | None = Field(
        default=None,
        ge=0,
        le=MAX_DEMAND,
        description="Refill a worker's buffer when it falls to this many.",
    )
    partition_by: str | None = Field(
        default=None,
        description="metadata.<key> or package.module:function: messages with the same "
        "key go to the same worker, in order. Default: the connector's ordering key.",
    )
    executor: Executor = Field(
        default="loop", description="loop (async handlers) or thread (blocking handlers)."
    )

    @model_validator(mode="after")
    def _demand(self) -> ProcessorsSpec:
        if self.min_demand is not None and self.min_demand >= self.max_demand:
            raise ValueError(
                f"min_demand ({self.min_demand}) must be below max_demand ({self.max_demand})"
            )
        return self


class BatcherSpec(Spec):
    """A named batcher and its batch processors."""

    batch_size: int = Field(
        default=100, ge=1, le=MAX_BATCH_SIZE, description="Close a batch at this many messages."
    )
    max_bytes: int | None = Field(
        default=None,
        ge=1,
        le=MAX_BATCH_BYTES,
        description="Close a batch at this many bytes of payload.",
    )
    batch_timeout: float = Field(
        default=1.0,
        gt=0,
        le=MAX_SECONDS,
        description="Close a batch this many seconds after its first message.",
    )
    concurrency: int = Field(
        default=1, ge=1, le=MAX_WORKERS, description="Batch processors running handle_batch."
    )
    partition_by: str | None = Field(
        default=None,
        description="metadata.<key> or package.module:function: batches of the same key "
        "go to the same batch processor. Default: the connector's ordering key.",
    )


class RateLimitSpec(Spec):
    """At most allowed_messages leave the producers per interval seconds."""

    allowed_messages: int = Field(
        ge=RATE_LIMIT_MESSAGES[0],
        le=RATE_LIMIT_MESSAGES[1],
        description="Messages allowed per interval.",
    )
    interval: float = Field(
        default=1.0,
        ge=RATE_LIMIT_INTERVAL[0],
        le=RATE_LIMIT_INTERVAL[1],
        description="The interval, in seconds.",
    )


class RetrySpec(Spec):
    """How failed messages are retried."""

    max_attempts: int = Field(
        default=3, ge=1, le=MAX_ATTEMPTS, description="Deliveries before giving up."
    )
    min_delay: float = Field(
        default=1.0, ge=0, le=MAX_SECONDS, description="Seconds before the first retry."
    )
    max_delay: float = Field(
        default=60.0, ge=0, le=MAX_SECONDS, description="Longest delay between retries."
    )
    multiplier: float = Field(
        default=2.0, ge=1, le=MAX_MULTIPLIER, description="Backoff growth per attempt."
    )
    jitter: float = Field(
        default=0.2, ge=0, le=1, description="Random spread of each delay (0..1)."
    )
    never_retry: list[str] = Field(
        default_factory=list,
        max_length=MAX_LIST,
        description="Exceptions that are never retried: package.module:Class, or a "
        "built-in name such as ValueError.",
    )
    dead_letter: bool = Field(
        default=True,
        description="What is not retried is dead-lettered (true) or discarded (false).",
    )

    @model_validator(mode="after")
    def _delays(self) -> RetrySpec:
        if self.max_delay < self.min_delay:
            raise ValueError(
                f"max_delay ({self.max_delay:g}) must be at least min_delay ({self.min_delay:g})"
            )
        return self


class DeadLetterSpec(Spec):
    """Where dead letters go, for connectors that publish them somewhere."""

    destination: str | None = Field(
        default=None,
        description="The dead-letter queue / topic, passed to the connector's own option.",
    )


class ShutdownSpec(Spec):
    drain_timeout: float = Field(
        default=30.0,
        ge=0,
        le=MAX_SECONDS,
        description="Seconds a drain (SIGTERM) may take before giving up.",
    )


class SupervisorSpec(Spec):
    max_restarts: int = Field(
        default=3, ge=0, le=MAX_RESTARTS, description="Stage restarts allowed within max_seconds."
    )
    max_seconds: float = Field(
        default=5.0, gt=0, le=MAX_SECONDS, description="The restart intensity window."
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
    stall_window: float = Field(
        default=60.0,
        gt=0,
        le=MAX_SECONDS,
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
        le=MAX_SECONDS,
        description="Log a progress line every this many seconds.",
    )
    loggers: dict[str, Level] = Field(
        default_factory=dict,
        max_length=MAX_LIST,
        description="Levels of particular loggers, e.g. aiokafka: WARNING.",
    )


class PipelineSpec(Spec):
    """A pipeline file."""

    name: str = Field(description="The pipeline's name (in metrics and logs).")
    handler: str = Field(description="package.module:attribute: a function or Handler class.")
    producer: ProducerSpec
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

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_name(value, "a pipeline name")

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
