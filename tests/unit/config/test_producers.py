"""``producers:``: several named producer blocks in one pipeline file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from broadway_py.config import ConfigFileError, load_config, load_pipeline, parse_set
from broadway_py.config.builder import ordering_of_each
from broadway_py.config.render import echo_yaml, graph_dot, graph_text
from broadway_py.connectors import registry
from broadway_py.connectors.kafka import partition_key
from broadway_py.connectors.rabbitmq.acknowledger import RabbitMQAcknowledger
from broadway_py.connectors.sqs.acknowledger import SqsAcknowledger
from broadway_py.message import Message
from tests.unit.config.conftest import Workspace

TWO = """
name: orders
handler: {h}:Orders
producers:
  orders:
    kafka:
      bootstrap_servers: 127.0.0.1:9092
      topics: [orders]
      group_id: orders
    decode: json
    concurrency: 2
  audit:
    rabbitmq:
      url: amqp://guest:secret@127.0.0.1:5672/
      queue: audit
      dead_letter: audit.dead
    decode: text
    transformer: {h}:handle
retry:
  max_attempts: 4
"""


def problems(path: Path, sets: tuple[str, ...] = ()) -> list[str]:
    with pytest.raises(ConfigFileError) as caught:
        load_pipeline(path, [parse_set(s) for s in sets], env={})
    return [str(p) for p in caught.value.problems]


def test_named_producers_build_one_pipeline_with_each_own_options(workspace: Workspace) -> None:
    loaded, pipeline = load_pipeline(workspace.file(TWO), env={})
    assert list(loaded.named) == ["orders", "audit"]
    assert [c.name for c, _ in loaded.named.values()] == ["kafka", "rabbitmq"]
    assert list(pipeline.producer_specs) == ["orders", "audit"]
    orders, audit = pipeline.producer_specs.values()
    assert (orders.concurrency, str(orders.decode)) == (2, "json")
    assert (audit.concurrency, str(audit.decode)) == (1, "text")
    assert orders.transformer is None
    assert audit.transformer is not None
    assert audit.transformer.__name__ == "handle"
    assert pipeline.producer_names == ["orders", "orders", "audit"]
    # Each connector's own retry / dead-letter settings stay its own.
    assert loaded.named["audit"][1].dead_letter.queue == "audit.dead"  # type: ignore[attr-defined]
    # Kafka and RabbitMQ differ: the default partition_by asks each message's connector.
    assert pipeline.processor_options.partition_by is not None
    assert pipeline.processor_options.partition_by.__name__ == "each producer's ordering key"


def test_one_producer_keeps_its_shape_and_is_named_default(workspace: Workspace) -> None:
    path = workspace.file("name: a\nhandler: {h}:handle\nproducer:\n  memory: {queue: q}\n")
    loaded, pipeline = load_pipeline(path, env={})
    assert loaded.named == {}
    assert list(pipeline.producer_specs) == ["default"]
    echoed = yaml.safe_load(echo_yaml(loaded))
    assert "producers" not in echoed
    assert echoed["producer"]["memory"] == {"queue": "q"}


def test_echo_and_graph_show_every_producer(workspace: Workspace) -> None:
    loaded, pipeline = load_pipeline(workspace.file(TWO), env={})
    echoed = yaml.safe_load(echo_yaml(loaded))
    assert "producer" not in echoed
    assert list(echoed["producers"]) == ["orders", "audit"]
    assert echoed["producers"]["orders"]["kafka"]["topics"] == ["orders"]
    assert echoed["producers"]["audit"]["concurrency"] == 1
    assert "guest:secret@" not in echo_yaml(loaded)
    text = graph_text(loaded, pipeline)
    assert "  producer orders: kafka x2 (decode json)" in text
    assert "  producer audit: rabbitmq x1 (decode text, transformer" in text
    assert "producer audit: rabbitmq x1, decode text" in graph_dot(loaded, pipeline)


def test_both_producer_and_producers_is_a_located_error(workspace: Workspace) -> None:
    path = workspace.file(TWO + "producer:\n  memory: {queue: q}\n")
    assert problems(path) == [
        f"{path}:3:1: producers: set either producer (one producer) or producers "
        "(several, by name), not both"
    ]


def test_neither_is_an_error(workspace: Workspace) -> None:
    path = workspace.file("name: a\nhandler: {h}:handle\n")
    (problem,) = problems(path)
    assert "missing required key 'producer' (one producer) or 'producers' (several)" in problem


def test_each_producer_block_is_checked_at_its_place(workspace: Workspace) -> None:
    path = workspace.file(
        """
        name: a
        handler: {h}:handle
        producers:
          first:
            memory: {}
          second:
            decode: json
          third:
            memory: {queue: q}
            generator: {count: 1}
        """
    )
    assert problems(path) == [
        f"{path}:5:5: producers.first.memory: missing required key 'queue'",
        f"{path}:6:3: producers.second: name one producer type: "
        "memory, generator, kafka, rabbitmq, sqs",
        f"{path}:10:5: producers.third: one producer type per producer, but both 'memory' "
        "and 'generator' are set",
    ]


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["Orders"], "producer name 'Orders'"),
        (["a.b"], "producer name 'a.b'"),
        (["x" * 41], "producer name 'xxxx"),
        ([f"p{i}" for i in range(17)], "at most 16"),
    ],
)
def test_names_and_count_are_bounded(workspace: Workspace, names: list[str], expected: str) -> None:
    blocks = "".join(f"  {name}:\n    memory: {{queue: {name}}}\n" for name in names)
    path = workspace.file(f"name: a\nhandler: {{h}}:handle\nproducers:\n{blocks}")
    (problem,) = problems(path)
    assert problem.startswith(f"{path}:")
    assert expected in problem


def test_dead_letter_destination_fills_each_producer(workspace: Workspace) -> None:
    path = workspace.file(
        TWO.replace("      dead_letter: audit.dead\n", "")
        + "dead_letter:\n  destination: everything.dlq\n"
    )
    loaded = load_config(path, env={})
    kafka, rabbitmq = (options for _, options in loaded.named.values())
    assert kafka.dead_letter_topic == "everything.dlq"  # type: ignore[attr-defined]
    assert rabbitmq.dead_letter.queue == "everything.dlq"  # type: ignore[attr-defined]
    conflicting = workspace.file(TWO + "dead_letter:\n  destination: other\n", "c.yaml")
    assert problems(conflicting) == [
        f"{conflicting}:21:16: dead_letter.destination: conflicts with "
        "producers.audit.rabbitmq.dead_letter ('audit.dead'); set only one of them"
    ]


def test_workers_refuse_an_in_process_producer_among_several(workspace: Workspace) -> None:
    local = "  local:\n    memory: {queue: q}\n  audit:\n"
    path = workspace.file(TWO.replace("  audit:\n", local) + "workers: 2\n")
    (problem,) = problems(path)
    assert "a memory producer runs inside one process" in problem


def _message(acknowledger: Any, metadata: dict[str, Any]) -> Message:
    return Message(b"x", acknowledger=acknowledger, metadata=metadata)


def test_ordering_of_each_uses_the_message_s_own_connector() -> None:
    kafka = registry.load("kafka")
    rabbitmq = registry.load("rabbitmq")
    sqs = registry.load("sqs")
    kafka_options = kafka.options.model_validate(
        {"bootstrap_servers": "h:9092", "topics": ["t"], "group_id": "g"}
    )
    fifo = sqs.options.model_validate({"queue_url": "http://h/1/q.fifo"})
    rabbit_options = rabbitmq.options.model_validate({"url": "amqp://h/", "queue": "q"})
    assert ordering_of_each([(rabbitmq, rabbit_options)]) is None
    assert ordering_of_each([(kafka, kafka_options), (kafka, kafka_options)]) is partition_key
    key = ordering_of_each([(kafka, kafka_options), (sqs, fifo), (rabbitmq, rabbit_options)])
    assert key is not None
    sqs_message = _message(object.__new__(SqsAcknowledger), {"message_group_id": "g1"})
    assert key(sqs_message) == "g1"
    # No ordering for RabbitMQ: its messages go to processors in turn.
    rabbit = object.__new__(RabbitMQAcknowledger)
    turns = [key(_message(rabbit, {})) for _ in range(3)]
    assert len(set(turns)) == 3
