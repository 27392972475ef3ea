"""``echo`` (resolved config, secrets redacted) and ``graph`` (text and DOT)."""

from __future__ import annotations

import pytest
import yaml

from broadway_py.config import echo_yaml, graph_dot, graph_text, load_pipeline, parse_set
from broadway_py.config.redact import REDACTED, redact, redact_url
from broadway_py.connectors import registry
from broadway_py.connectors.registry import ConnectorSpec
from tests.unit.config.conftest import Workspace

TOPOLOGY = """
name: orders
handler: {h}:Orders
producer:
  generator: {count: 10}
  decode: json
processors:
  concurrency: 3
  partition_by: metadata.customer
rate_limit: {allowed_messages: 100}
batchers:
  db: {batch_size: 50, batch_timeout: 0.5, concurrency: 2}
  s3: {batch_size: 1000}
"""


def test_redact() -> None:
    data = {
        "url": "amqp://app:s3cret@rabbit:5672/vhost",
        "password": "p",
        "Access-Key": "AKIA",
        "api_key": None,
        "routing_key": "orders.created",
        "nested": [{"client_secret": "x", "token_url": "https://auth/token"}],
        "plain": "https://host/path",
    }
    assert redact(data) == {
        "url": f"amqp://app:{REDACTED}@rabbit:5672/vhost",
        "password": REDACTED,
        "Access-Key": REDACTED,
        "api_key": None,
        "routing_key": "orders.created",
        "nested": [{"client_secret": REDACTED, "token_url": REDACTED}],
        "plain": "https://host/path",
    }
    assert redact_url("kafka://a:b@h1:9092,c:d@h2:9092") == f"kafka://a:{REDACTED}@h2:9092"
    assert redact_url("amqp://u:pa/s@s@host/v") == f"amqp://u:{REDACTED}@host/v"
    assert redact_url("'https://TOKEN@host/x'") == f"'https://{REDACTED}@host/x'"


def test_echo_shows_the_resolved_config_with_secrets_redacted(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(
        registry.CONNECTORS,
        "kafka",
        ConnectorSpec("kafka", "tests.unit.config.fake_connector", "aiokafka", "kafka"),
    )
    path = workspace.file(
        """
        name: secrets
        handler: {h}:handle
        producer:
          kafka:
            url: ${URL}
            password: ${PASSWORD}
            sasl_plain_password: hunter2
          decode: text
        """
    )
    env = {"URL": "kafka://user:topsecret@broker:9092", "PASSWORD": "hunter3"}
    loaded, _ = load_pipeline(path, [parse_set("processors.concurrency=7")], env=env)
    text = echo_yaml(loaded)
    assert "topsecret" not in text
    assert "hunter2" not in text
    assert "hunter3" not in text
    assert text.startswith(f"# {path}, resolved (defaults filled in, secrets redacted)\n")
    echoed = yaml.safe_load(text)
    assert echoed["producer"] == {
        "kafka": {
            "url": f"kafka://user:{REDACTED}@broker:9092",
            "password": REDACTED,
            "sasl_plain_password": REDACTED,
            "routing_key": "orders",
            "dead_letter_topic": None,
            "queue": "fake",
            "crash": False,
        },
        "provision": False,
        "concurrency": 1,
        "decode": "text",
        "transformer": None,
        "acknowledge": "after_processing",
    }
    assert echoed["processors"]["concurrency"] == 7
    assert echoed["http"] == {
        "enabled": True,
        "host": "127.0.0.1",
        "port": 9400,
        "stall_window": 60.0,
        "admin": False,
    }
    assert list(echoed) == [
        "name",
        "handler",
        "producer",
        "processors",
        "batchers",
        "rate_limit",
        "retry",
        "dead_letter",
        "shutdown",
        "supervisor",
        "http",
        "logging",
        "tracing",
        "workers",
    ]


def test_echo_output_is_itself_a_valid_pipeline_file(workspace: Workspace) -> None:
    loaded, _ = load_pipeline(workspace.file(TOPOLOGY), env={})
    again = workspace.file(echo_yaml(loaded), "echoed.yaml")
    reloaded, _ = load_pipeline(again, env={})
    # The producer section of the spec holds the connector's raw mapping; compare the rest.
    assert reloaded.spec.model_dump(exclude={"producer"}) == loaded.spec.model_dump(
        exclude={"producer"}
    )
    assert reloaded.spec.producer.decode == loaded.spec.producer.decode
    assert reloaded.options == loaded.options


def test_graph_text(workspace: Workspace) -> None:
    loaded, pipeline = load_pipeline(workspace.file(TOPOLOGY), env={})
    assert graph_text(loaded, pipeline) == (
        "pipeline orders\n"
        "  producer generator x1 (decode json)\n"
        "  -> rate limiter (100 messages per 1.0s)\n"
        "  -> processors x3 (max_demand 100, partition_by metadata.customer, executor loop)\n"
        "     -> batcher db (batch_size 50, batch_timeout 0.5s) -> batch processors x2\n"
        "     -> batcher s3 (batch_size 1000, batch_timeout 1.0s) -> batch processors x1\n"
        "  failures: retry up to 3 attempts (1.0s..60.0s), then dead-letter\n"
    )


def test_graph_dot(workspace: Workspace) -> None:
    loaded, pipeline = load_pipeline(workspace.file(TOPOLOGY), env={})
    dot = graph_dot(loaded, pipeline)
    assert dot.startswith('digraph "orders" {\n')
    assert dot.endswith("}\n")
    for line in (
        '  producer [label="producer: generator\\nx1, decode json"];',
        '  rate_limiter [label="rate limiter\\n100 per 1.0s", shape=diamond];',
        "  producer -> rate_limiter;",
        "  rate_limiter -> processors;",
        '  processors [label="processors\\nx3, max_demand 100\\npartition_by metadata.customer"];',
        '  processors -> batcher_0 [label="db"];',
        '  batcher_1 [label="batcher: s3\\nsize 1000, timeout 1.0s"];',
        '  batcher_0_processors [label="batch processors\\nx2"];',
    ):
        assert line in dot.splitlines()
