"""Kafka Options: validation names the option, derived names and client settings."""

from __future__ import annotations

import ssl
import zlib
from typing import Any

import pytest
from pydantic import ValidationError

from broadway_py.connectors.kafka import Options, ordering_key, producer_factory
from broadway_py.message import Message
from broadway_py.producer import Producer

BASE: dict[str, Any] = {"bootstrap_servers": "k1:9092", "topics": ["orders"], "group_id": "g"}


def make(**changes: Any) -> Options:
    return Options.model_validate({**BASE, **changes})


def rejected(**changes: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        make(**changes)
    return str(caught.value)


def test_defaults_and_derived_topics() -> None:
    options = make(bootstrap_servers="k1:9092, k2:9093")
    assert options.bootstrap_servers == ["k1:9092", "k2:9093"]
    assert options.retry_topic_name == "g.retry"
    assert options.dead_letter_topic_name == "g.dlq"
    assert options.subscribed_topics == ["orders", "g.retry"]
    assert options.protocol == "PLAINTEXT"
    assert options.auto_offset_reset == "earliest"
    ordered = make(ordered=True, retry_topic="ignored.retry")
    assert ordered.subscribed_topics == ["orders"]


def test_consumer_settings_never_auto_commit() -> None:
    kwargs = make(session_timeout_ms=12000, max_poll_records=50).consumer_kwargs()
    assert kwargs["enable_auto_commit"] is False
    assert kwargs["group_id"] == "g"
    assert kwargs["session_timeout_ms"] == 12000
    assert kwargs["max_poll_records"] == 50
    assert kwargs["security_protocol"] == "PLAINTEXT"
    assert make().publisher_kwargs()["acks"] == "all"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"bootstrap_servers": "no-port"}, "'no-port' is not host:port"),
        ({"bootstrap_servers": "h:99999"}, "'h:99999' is not host:port"),
        ({"bootstrap_servers": []}, "bootstrap_servers"),
        ({"topics": []}, "topics"),
        ({"topics": ["bad topic"]}, "'bad topic' is not a valid Kafka topic name"),
        ({"topics": ["a", "a"]}, "a topic is listed twice"),
        ({"group_id": ""}, "group_id"),
        ({"auto_offset_reset": "none"}, "auto_offset_reset"),
        ({"heartbeat_interval_ms": 10000}, "heartbeat_interval_ms must be below"),
        ({"revoke_timeout": 40.0}, "revoke_timeout must be below rebalance_timeout_ms"),
        ({"pause_after": 400.0}, "pause_after must be below max_poll_interval_ms"),
        ({"retry_topic": "orders"}, "retry_topic 'orders' is also a source topic"),
        ({"dead_letter_topic": "orders"}, "dead_letter_topic 'orders' is also a source"),
        ({"retry_topic": "x", "dead_letter_topic": "x"}, "must differ"),
        ({"security_protocol": "SASL_SSL"}, "needs sasl settings"),
        ({"sasl": {"username": "u", "password": "p"}, "security_protocol": "SSL"}, "sasl is set"),
        ({"ssl": {"cafile": "/ca.pem"}, "security_protocol": "PLAINTEXT"}, "ssl is set"),
        ({"ssl": {"keyfile": "/k.pem"}}, "ssl.keyfile needs ssl.certfile"),
        ({"sasl": {"mechanism": "GSSAPI", "username": "u", "password": "p"}}, "mechanism"),
        ({"commit_interval": 0}, "commit_interval"),
        ({"unknown": 1}, "unknown"),
        ({"reconnect": {"min_delay": 5, "max_delay": 1}}, "reconnect.max_delay"),
    ],
)
def test_invalid_settings_are_named(changes: dict[str, Any], message: str) -> None:
    assert message in rejected(**changes)


def test_sasl_and_ssl_are_handed_to_aiokafka_and_the_password_is_hidden(tmp_path: Any) -> None:
    options = make(
        sasl={"mechanism": "SCRAM-SHA-256", "username": "svc", "password": "s3cret"},
        ssl={"check_hostname": False},
    )
    assert options.protocol == "SASL_SSL"
    assert "s3cret" not in repr(options)
    assert "s3cret" not in options.model_dump_json()
    kwargs = options.consumer_kwargs()
    assert kwargs["security_protocol"] == "SASL_SSL"
    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-256"
    assert kwargs["sasl_plain_username"] == "svc"
    assert kwargs["sasl_plain_password"] == "s3cret"
    context = kwargs["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.check_hostname is False
    plain = make(sasl={"mechanism": "PLAIN", "username": "u", "password": "p"})
    assert plain.protocol == "SASL_PLAINTEXT"
    assert "ssl_context" not in plain.consumer_kwargs()


def test_factory_and_ordering_key() -> None:
    options = make()
    factory = producer_factory(options, demand=1200)
    first, second = factory(), factory()
    assert isinstance(first, Producer)
    assert first is not second
    assert getattr(first, "capacity") == 1200  # noqa: B009
    key = ordering_key(options)
    assert key is not None
    message = Message(
        b"x", acknowledger=first.acknowledger, metadata={"topic": "t", "partition": 3}
    )  # type: ignore[attr-defined]
    assert key(message) == zlib.crc32(b"t") + 3
    others = [
        key(Message(b"x", acknowledger=first.acknowledger, metadata={"topic": "t", "partition": p}))
        for p in range(8)
    ]
    # Consecutive partitions of a topic go to distinct processors (and batch processors).
    assert len({k % 8 for k in others}) == 8
    assert len({k % 4 for k in others[:4]}) == 4


def test_group_names_are_made_into_valid_topic_names() -> None:
    options = make(group_id="my group/1")
    assert options.retry_topic_name == "my_group_1.retry"
