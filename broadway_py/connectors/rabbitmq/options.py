"""The RabbitMQ connector's options: a pydantic model validated once, at build time.

::

    Options(
        url="amqp://guest:guest@127.0.0.1:5672/",
        queue="orders",
        declare={"durable": True, "arguments": {"x-queue-type": "quorum"}},
        bindings=[{"exchange": "events", "routing_keys": ["order.*"]}],
    )

The URL is a :class:`~pydantic.SecretStr`: ``repr`` and ``str`` hide it, and a
JSON dump shows it with the password masked (``amqp://guest:**********@host/``).
"""

from __future__ import annotations

import urllib.parse
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_serializer,
    field_validator,
    model_validator,
)

from broadway_py.connectors.toolkit.reconnect import ReconnectOptions as ReconnectOptions
from broadway_py.schema.fields import Seconds

AckAction = Literal["ack", "reject", "reject_and_requeue", "reject_and_requeue_once"]
"""What to tell the broker about a message, as Broadway's RabbitMQ producer names it:
``ack``; ``reject`` (dropped, or dead-lettered by the queue's own dead-letter
exchange); ``reject_and_requeue`` (delivered again); ``reject_and_requeue_once``
(requeued the first time, rejected when it was already redelivered)."""

MASK = "**********"
MAX_PREFETCH = 65535
MAX_NAME_BYTES = 255
"""The longest queue or exchange name RabbitMQ takes, in bytes of UTF-8."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DeclareOptions(_Model):
    """How the queue is declared when the connector connects."""

    passive: bool = Field(
        default=False,
        description="Only check that the queue exists (a passive declare); a missing queue "
        "fails the start with DestinationNotFound naming it. The other fields are ignored.",
    )
    durable: bool = Field(default=True, description="The queue survives a broker restart.")
    auto_delete: bool = Field(
        default=False, description="The broker deletes the queue when its last consumer goes."
    )
    arguments: dict[str, Any] = Field(
        default_factory=dict,
        description="Queue arguments, e.g. x-queue-type: quorum, x-dead-letter-exchange, "
        "x-message-ttl. They must match those of an existing queue.",
    )


class BindingOptions(_Model):
    """A binding of the queue to an exchange."""

    exchange: str = Field(min_length=1, description="The exchange to bind the queue to.")
    routing_keys: list[str] = Field(
        default_factory=lambda: [""],
        description="One binding per routing key (binding keys such as order.* on a topic "
        "exchange).",
    )
    exchange_type: Literal["direct", "fanout", "topic", "headers"] | None = Field(
        default=None,
        description="When set, the exchange is declared (durable) with this type; when "
        "omitted it must already exist.",
    )
    arguments: dict[str, Any] = Field(
        default_factory=dict, description="Binding arguments (for headers exchanges)."
    )


class RetryOptions(_Model):
    """Where retries wait out their delay."""

    delay_queue: str = Field(
        default="{queue}.delay",
        min_length=1,
        description="Name of the delay queues; {queue} is the source queue. A retry is "
        "published there with a per-message TTL and dead-lettered back to the source queue "
        "when it expires.",
    )
    bucketed: bool = Field(
        default=True,
        description="One delay queue per power-of-two delay (suffix .<ms>ms), so that a long "
        "delay never holds up a short one (RabbitMQ expires messages only at the head of a "
        "queue). A retry then waits between its delay and twice it, at most.",
    )
    attempt_header: str = Field(
        default="x-broadway-attempt",
        min_length=1,
        description="Header carrying the attempt number of the next delivery.",
    )


class DeadLetterOptions(_Model):
    """Where dead letters go. A plain string is taken as ``{queue: <string>}``."""

    strategy: Literal["publish", "reject"] = Field(
        default="publish",
        description="publish: a copy goes to the dead-letter queue with the failure reason in "
        "its headers, then the original is acked. reject: basic.reject without requeue, so "
        "the queue's own dead-letter exchange (x-dead-letter-exchange argument or policy) "
        "routes it; without one the broker drops the message.",
    )
    queue: str = Field(
        default="{queue}.dlq",
        min_length=1,
        description="The dead-letter queue (strategy publish); {queue} is the source queue.",
    )
    declare: bool = Field(
        default=True, description="Declare the dead-letter queue (durable) when connecting."
    )

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, value: Any) -> Any:
        return {"queue": value} if isinstance(value, str) else value


class Options(_Model):
    """Consume one RabbitMQ queue."""

    url: SecretStr = Field(
        description="amqp:// or amqps:// URL: user, password, host, port, vhost "
        "(amqp://guest:guest@127.0.0.1:5672/), and aio-pika query options such as "
        "heartbeat=30. Hidden when printed.",
    )
    queue: str = Field(min_length=1, max_length=255, description="The queue to consume.")
    declare: DeclareOptions | None = Field(
        default=None,
        description="Declare the queue when connecting. Omitted: the queue must exist "
        "(checked with a passive declare).",
    )
    bindings: list[BindingOptions] = Field(
        default_factory=list, description="Bindings made when connecting."
    )
    prefetch_count: int | None = Field(
        default=None,
        ge=1,
        le=MAX_PREFETCH,
        description="Unacknowledged messages the broker sends ahead (basic.qos). Default: "
        "twice the pipeline's demand (processors.concurrency * processors.max_demand).",
    )
    consumer_tag: str | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        description="The consumer tag; default broadway_py.<host>.<pid>.<random>.",
    )
    on_success: AckAction = Field(
        default="ack",
        description="What a successful message gets: ack (the default), reject, "
        "reject_and_requeue or reject_and_requeue_once.",
    )
    on_failure: AckAction | Literal["decision"] = Field(
        default="decision",
        description="What a failed message gets: decision (carry out the retry policy's "
        "decision: retry, dead_letter or discard), or a fixed ack, reject, "
        "reject_and_requeue or reject_and_requeue_once.",
    )
    retry: RetryOptions = Field(default=RetryOptions(), description="Delay queues for retries.")
    dead_letter: DeadLetterOptions = Field(
        default=DeadLetterOptions(),
        description="The dead-letter queue (a name), or {strategy: reject} for the queue's "
        "own dead-letter exchange.",
    )
    reconnect: ReconnectOptions = Field(
        default=ReconnectOptions(), description="Backoff between connection attempts."
    )
    connect_timeout: Seconds = Field(
        default=10.0,
        description="Seconds one connection attempt (with declarations) may take.",
    )
    consumer_timeout_warning: Seconds | None = Field(
        default=1500.0,
        description="Log a warning for a message left unacknowledged this many seconds. Keep "
        "it below the server's consumer_timeout (30 minutes by default), past which RabbitMQ "
        "closes the channel and redelivers everything it carried. null: no warning.",
    )
    backlog_interval: Seconds | None = Field(
        default=5.0,
        description="Seconds between queue depth reports (broadway_backlog_messages). null: none.",
    )

    @model_validator(mode="after")
    def _dead_letter_name(self) -> Options:
        """The dead-letter queue's name, ``{queue}`` filled in, is one RabbitMQ accepts."""
        from broadway_py.connectors.rabbitmq.naming import dead_letter_queue  # imports this

        dead = self.dead_letter
        if dead.strategy != "publish":
            return self
        name = dead_letter_queue(dead, self.queue)
        size = len(name.encode("utf-8"))
        if size > MAX_NAME_BYTES:
            raise ValueError(
                f"dead_letter {name[:40]!r}... is {size} bytes of UTF-8 ({{queue}} filled in); "
                f"a RabbitMQ queue name is at most {MAX_NAME_BYTES} bytes"
            )
        return self

    @field_validator("url", mode="after")
    @classmethod
    def _check_url(cls, value: SecretStr) -> SecretStr:
        parsed = urllib.parse.urlsplit(value.get_secret_value())
        if parsed.scheme not in ("amqp", "amqps"):
            raise ValueError("must be an amqp:// or amqps:// URL")
        if not parsed.hostname:
            raise ValueError("must name a host (amqp://user:password@host:5672/vhost)")
        try:
            parsed.port  # noqa: B018 - raises on a port that is not a number
        except ValueError:
            raise ValueError("has a port that is not a number") from None
        return value

    @field_serializer("url", when_used="json")
    def _dump_url(self, value: SecretStr) -> str:
        return redacted_url(value.get_secret_value())

    @property
    def display_url(self) -> str:
        """The URL with its password masked, for logs and errors."""
        return redacted_url(self.url.get_secret_value())

    @property
    def user(self) -> str:
        return urllib.parse.unquote(
            urllib.parse.urlsplit(self.url.get_secret_value()).username or "guest"
        )

    @property
    def vhost(self) -> str:
        path = urllib.parse.urlsplit(self.url.get_secret_value()).path
        return urllib.parse.unquote(path[1:]) if len(path) > 1 else "/"

    def effective_prefetch(self, demand: int) -> int:
        """``prefetch_count``, or twice the pipeline's demand, within 1..65535."""
        if self.prefetch_count is not None:
            return self.prefetch_count
        return min(max(2 * demand, 1), MAX_PREFETCH)


def redacted_url(url: str) -> str:
    """``amqp://guest:guest@host/`` -> ``amqp://guest:**********@host/``."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    user = parts.netloc.rpartition("@")[0].partition(":")[0]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:{MASK}@{host}"))
