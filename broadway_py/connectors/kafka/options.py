"""The Kafka connector's options: a pydantic model validated once, at build time.

::

    Options(
        bootstrap_servers=["kafka-1:9092", "kafka-2:9092"],
        topics=["orders"],
        group_id="orders-pipeline",
        sasl={"mechanism": "SCRAM-SHA-512", "username": "svc", "password": "..."},
        ssl={"cafile": "/etc/kafka/ca.pem"},
    )

Kafka's own settings keep Kafka's names and units (``session_timeout_ms``...),
so they read like the broker's documentation; the connector's own settings are
in seconds. Passwords are :class:`~pydantic.SecretStr`: ``repr``, ``str`` and a
JSON dump hide them.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from broadway_py.connectors.toolkit.provisioning import text_values
from broadway_py.connectors.toolkit.reconnect import ReconnectOptions as ReconnectOptions
from broadway_py.schema.checks import checked
from broadway_py.schema.fields import Seconds, SecondsOrZero

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]

_MAX_JAVA_INT = 2**31 - 1
JavaInt = Annotated[int, Field(ge=1, le=_MAX_JAVA_INT)]
"""A Kafka byte or millisecond setting: a positive Java int (fetch.max.wait.ms may be 0)."""
_TOPIC = re.compile(r"[A-Za-z0-9._-]{1,249}\Z")
_SERVER = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):([0-9]{1,5})\Z")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SslOptions(_Model):
    """TLS to the brokers (security protocol SSL or SASL_SSL)."""

    cafile: str | None = Field(
        default=None,
        description="PEM file of the CAs that sign the brokers' certificates; "
        "default: the system's trusted CAs.",
    )
    certfile: str | None = Field(
        default=None, description="PEM file of this client's certificate (mutual TLS)."
    )
    keyfile: str | None = Field(default=None, description="PEM file of this client's private key.")
    password: SecretStr | None = Field(
        default=None, description="Password of the private key, when it is encrypted."
    )
    check_hostname: bool = Field(
        default=True, description="Check that a broker's certificate names the host connected to."
    )

    @model_validator(mode="after")
    def _pairs(self) -> SslOptions:
        if self.keyfile and not self.certfile:
            raise ValueError("ssl.keyfile needs ssl.certfile")
        return self


class SaslOptions(_Model):
    """SASL authentication (security protocol SASL_PLAINTEXT or SASL_SSL)."""

    mechanism: SaslMechanism = Field(
        default="SCRAM-SHA-512", description="PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512."
    )
    username: str = Field(min_length=1, description="The SASL user name.")
    password: SecretStr = Field(description="The SASL password (redacted when printed).")


class Options(_Model):
    """``producer.kafka``: consume topics as a member of a consumer group."""

    bootstrap_servers: list[str] = Field(
        min_length=1,
        description="host:port of one or more brokers to bootstrap from (a list, or one "
        "comma-separated string).",
    )
    topics: list[str] = Field(min_length=1, description="The topics to consume.")
    group_id: str = Field(
        min_length=1,
        max_length=249,
        description="The consumer group: members share the partitions and its committed "
        "offsets say where the group resumes.",
    )
    client_id: str = Field(
        default="broadway-py", min_length=1, description="Client id sent to brokers."
    )
    auto_offset_reset: Literal["earliest", "latest"] = Field(
        default="earliest",
        description="Where a partition without a committed offset starts: earliest (every "
        "message still kept) or latest (only messages produced from now on).",
    )
    # -- fetching ------------------------------------------------------------------
    max_poll_records: int = Field(
        default=500,
        ge=1,
        le=100_000,
        description="Most records taken from the client per poll (getmany).",
    )
    buffer_size: int | None = Field(
        default=None,
        ge=1,
        le=1_000_000,
        description="Records the connector holds ahead of the pipeline before it pauses "
        "its partitions; default: the larger of the pipeline's demand and max_poll_records.",
    )
    pause_after: Seconds = Field(
        default=1.0,
        description="Seconds the pipeline may stay full before the connector pauses its "
        "partitions (it keeps polling, so the member stays in its group). Until then the "
        "client keeps what it prefetched; pausing discards that, to be fetched again.",
    )
    fetch_min_bytes: JavaInt = Field(default=1, description="Kafka fetch.min.bytes.")
    fetch_max_bytes: JavaInt = Field(default=52428800, description="Kafka fetch.max.bytes.")
    fetch_max_wait_ms: int = Field(
        default=100,
        ge=0,
        le=_MAX_JAVA_INT,
        description="Kafka fetch.max.wait.ms: how long a broker holds a fetch of partitions "
        "with nothing new. Lower than Kafka's 500: the client keeps one fetch in flight per "
        "broker, so a held fetch of the (mostly empty) retry topic delays the others.",
    )
    max_partition_fetch_bytes: JavaInt = Field(
        default=1048576, description="Kafka max.partition.fetch.bytes."
    )
    isolation_level: Literal["read_uncommitted", "read_committed"] = Field(
        default="read_uncommitted",
        description="read_committed hides records of aborted and open transactions.",
    )
    # -- group membership -----------------------------------------------------------
    session_timeout_ms: JavaInt = Field(
        default=10000,
        description="Kafka session.timeout.ms: a member silent this long is evicted and "
        "its partitions reassigned (brokers accept 6000-1800000 by default).",
    )
    heartbeat_interval_ms: JavaInt = Field(default=3000, description="Kafka heartbeat.interval.ms.")
    max_poll_interval_ms: JavaInt = Field(
        default=300000,
        description="Kafka max.poll.interval.ms. The connector keeps polling while the "
        "pipeline is full (it pauses partitions instead), so a slow handler does not "
        "reach it.",
    )
    rebalance_timeout_ms: JavaInt = Field(
        default=30000,
        description="How long the group waits for members to rejoin in a rebalance; it "
        "must leave room for revoke_timeout.",
    )
    request_timeout_ms: JavaInt = Field(default=40000, description="Kafka request.timeout.ms.")
    # -- acknowledgement ------------------------------------------------------------
    commit_interval: Seconds = Field(
        default=1.0,
        description="Seconds between offset commits (also at drain and on revoke). Offsets "
        "are committed up to the highest contiguous acknowledged offset of each partition.",
    )
    commit_timeout: Seconds = Field(
        default=10.0,
        description="Seconds a single commit may take before it is given up.",
    )
    revoke_timeout: SecondsOrZero = Field(
        default=10.0,
        description="Seconds a rebalance waits for the in-flight messages of revoked "
        "partitions before committing and letting them go; later acks are dropped and "
        "those messages redelivered to the new owner.",
    )
    ordered: bool = Field(
        default=False,
        description="Retry in place: a retried message pauses its partition and the "
        "partition is read again from that message after the delay, so nothing after it "
        "is committed first. Off: retries go to retry_topic and the partition moves on.",
    )
    retry_topic: str | None = Field(
        default=None,
        description="Topic retried messages are re-published to (with their attempt and "
        "not-before time in headers); the pipeline consumes it too. Default: "
        "<group_id>.retry. Unused when ordered is on.",
    )
    dead_letter_topic: str | None = Field(
        default=None,
        description="Topic dead-lettered messages are published to, with the failure "
        "reason in headers. Default: <group_id>.dlq.",
    )
    create_topics: bool = Field(
        default=True,
        description="Create the retry and dead-letter topics when they do not exist (with "
        "as many partitions as the largest source topic). The source topics are never "
        "created: a missing one is an error naming it.",
    )
    replication_factor: int = Field(
        default=-1,
        ge=-1,
        le=32767,
        description="Replication factor of topics the connector creates; -1: the broker's default.",
    )
    topic_partitions: int | None = Field(
        default=None,
        ge=1,
        le=100_000,
        description="Partitions of the topics `broadway-py provision` creates (the source "
        "topics; the retry and dead-letter topics too). Default: 1 for a source topic, the "
        "largest source topic's count for the others. An existing topic with fewer is "
        "reported, never changed.",
    )
    topic_configs: dict[str, str] = Field(
        default_factory=dict,
        max_length=1000,
        description="Topic configs of the topics `broadway-py provision` creates "
        "(retention.ms: '604800000', cleanup.policy: delete...).",
    )
    probe_interval: Seconds = Field(
        default=5.0,
        description="Seconds between checks that the cluster still answers, while it does; "
        "a failed check reports the connector disconnected (readiness) and checks again "
        "with the reconnect backoff.",
    )
    reconnect: ReconnectOptions = Field(
        default_factory=lambda: ReconnectOptions(),
        description="Backoff between connection attempts.",
    )
    # -- security -------------------------------------------------------------------
    security_protocol: SecurityProtocol | None = Field(
        default=None,
        description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL; default: derived from "
        "whether ssl and sasl are set.",
    )
    ssl: SslOptions | None = Field(default=None, description="TLS settings.")
    sasl: SaslOptions | None = Field(default=None, description="SASL settings.")

    _configs_as_text = field_validator("topic_configs", mode="before")(text_values)

    @field_validator("bootstrap_servers", mode="before")
    @classmethod
    def _split_servers(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("bootstrap_servers")
    @classmethod
    def _check_servers(cls, value: list[str]) -> list[str]:
        for server in value:
            match = _SERVER.match(server)
            if match is None or not 0 < int(match.group(1)) < 65536:
                raise ValueError(f"{server!r} is not host:port")
        return value

    @field_validator("topics")
    @classmethod
    def _check_topics(cls, value: list[str]) -> list[str]:
        for topic in value:
            _check_topic(topic)
        if len(set(value)) != len(value):
            raise ValueError("a topic is listed twice")
        return value

    @field_validator("retry_topic", "dead_letter_topic")
    @classmethod
    def _check_optional_topic(cls, value: str | None) -> str | None:
        return None if value is None else _check_topic(value)

    @model_validator(mode="after")
    def _consistent(self) -> Options:
        # Every failed check is reported, one line each (the config layer splits them).
        found: list[str] = []
        if self.heartbeat_interval_ms >= self.session_timeout_ms:
            found.append("heartbeat_interval_ms must be below session_timeout_ms")
        if self.revoke_timeout * 1000 >= self.rebalance_timeout_ms:
            found.append(
                "revoke_timeout must be below rebalance_timeout_ms, or the group evicts a "
                "member still waiting for its in-flight messages"
            )
        if self.pause_after * 1000 >= self.max_poll_interval_ms:
            found.append("pause_after must be below max_poll_interval_ms")
        if self.fetch_max_bytes < self.fetch_min_bytes:
            found.append("fetch_max_bytes must be at least fetch_min_bytes")
        protocol = self.protocol
        if protocol.startswith("SASL") and self.sasl is None:
            found.append(f"security_protocol {protocol} needs sasl settings")
        if self.sasl is not None and not protocol.startswith("SASL"):
            found.append(f"sasl is set but security_protocol is {protocol}")
        if self.ssl is not None and not protocol.endswith("SSL"):
            found.append(f"ssl is set but security_protocol is {protocol}")
        sources = set(self.topics)
        retry, dead = self.retry_topic_name, self.dead_letter_topic_name
        if not self.ordered and retry in sources:
            found.append(f"retry_topic {retry!r} is also a source topic")
        if dead in sources:
            found.append(f"dead_letter_topic {dead!r} is also a source topic")
        if not self.ordered and dead == retry:
            found.append("retry_topic and dead_letter_topic must differ")
        return checked(self, found)

    # -- derived values ---------------------------------------------------------------

    @property
    def protocol(self) -> SecurityProtocol:
        """The security protocol, as set or derived from ssl / sasl."""
        if self.security_protocol is not None:
            return self.security_protocol
        if self.sasl is not None:
            return "SASL_SSL" if self.ssl is not None else "SASL_PLAINTEXT"
        return "SSL" if self.ssl is not None else "PLAINTEXT"

    @property
    def retry_topic_name(self) -> str:
        return self.retry_topic or _derived(self.group_id, "retry")

    @property
    def dead_letter_topic_name(self) -> str:
        return self.dead_letter_topic or _derived(self.group_id, "dlq")

    @property
    def subscribed_topics(self) -> list[str]:
        """What the consumer subscribes to: the sources, and the retry topic."""
        if self.ordered:
            return list(self.topics)
        return [*self.topics, self.retry_topic_name]

    @property
    def servers(self) -> str:
        """The bootstrap servers as one string, for messages."""
        return ",".join(self.bootstrap_servers)

    def admin_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of an AIOKafkaAdminClient for this cluster (servers, id, security)."""
        return {
            "bootstrap_servers": list(self.bootstrap_servers),
            "client_id": self.client_id,
            "request_timeout_ms": self.request_timeout_ms,
            **self.security_kwargs(),
        }

    def security_kwargs(self) -> dict[str, Any]:
        """The security settings as aiokafka keyword arguments."""
        protocol = self.protocol
        kwargs: dict[str, Any] = {"security_protocol": protocol}
        if protocol.endswith("SSL"):
            from aiokafka.helpers import create_ssl_context  # type: ignore[import-untyped]

            ssl = self.ssl or SslOptions.model_validate({})
            context = create_ssl_context(
                cafile=ssl.cafile,
                certfile=ssl.certfile,
                keyfile=ssl.keyfile,
                password=ssl.password.get_secret_value() if ssl.password else None,
            )
            context.check_hostname = ssl.check_hostname
            kwargs["ssl_context"] = context
        if self.sasl is not None:
            kwargs["sasl_mechanism"] = self.sasl.mechanism
            kwargs["sasl_plain_username"] = self.sasl.username
            kwargs["sasl_plain_password"] = self.sasl.password.get_secret_value()
        return kwargs

    def consumer_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of the AIOKafkaConsumer (auto-commit always off)."""
        return {
            "bootstrap_servers": list(self.bootstrap_servers),
            "client_id": self.client_id,
            "group_id": self.group_id,
            "enable_auto_commit": False,
            "auto_offset_reset": self.auto_offset_reset,
            "max_poll_records": self.max_poll_records,
            "fetch_min_bytes": self.fetch_min_bytes,
            "fetch_max_bytes": self.fetch_max_bytes,
            "fetch_max_wait_ms": self.fetch_max_wait_ms,
            "max_partition_fetch_bytes": self.max_partition_fetch_bytes,
            "isolation_level": self.isolation_level,
            "session_timeout_ms": self.session_timeout_ms,
            "heartbeat_interval_ms": self.heartbeat_interval_ms,
            "max_poll_interval_ms": self.max_poll_interval_ms,
            "rebalance_timeout_ms": self.rebalance_timeout_ms,
            "request_timeout_ms": self.request_timeout_ms,
            **self.security_kwargs(),
        }

    def publisher_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of the AIOKafkaProducer that writes retries and dead letters."""
        return {
            "bootstrap_servers": list(self.bootstrap_servers),
            "client_id": self.client_id,
            "acks": "all",
            "linger_ms": 2,
            "request_timeout_ms": self.request_timeout_ms,
            **self.security_kwargs(),
        }


def _check_topic(topic: str) -> str:
    if not _TOPIC.match(topic) or topic in (".", ".."):
        raise ValueError(
            f"{topic!r} is not a valid Kafka topic name (1-249 of letters, digits, '.', '_', "
            "'-'; not '.' or '..')"
        )
    return topic


def _derived(group_id: str, suffix: str) -> str:
    base = re.sub(r"[^A-Za-z0-9._-]", "_", group_id)[: 249 - len(suffix) - 1]
    return f"{base}.{suffix}"
