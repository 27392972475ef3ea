"""``partition_by: key``: routing by the record key within its partition, and its config."""

from __future__ import annotations

import textwrap
import uuid
from pathlib import Path

import pytest

from broadway_py import Message, NoopAcknowledger
from broadway_py.config import ConfigFileError, load_pipeline
from broadway_py.connectors.kafka import Options, key_ordering, partition_key, record_key
from broadway_py.connectors.kafka.message import Delivery, KafkaMessage
from broadway_py.connectors.kafka.offsets import PartitionOffsets
from broadway_py.errors import ConfigurationError

ACK = NoopAcknowledger()


def fetched(topic: str, partition: int, key: bytes | None, offset: int = 0) -> KafkaMessage:
    delivery = Delivery(PartitionOffsets((topic, partition), 1), 0, (topic, partition))
    return KafkaMessage(b"v", ACK, delivery, offset, key, 0, (), 1)


def test_one_key_of_one_partition_has_one_route_whatever_the_bytes_object() -> None:
    first = fetched("orders", 3, b"customer-1", 10)
    again = fetched("orders", 3, bytes(bytearray(b"customer-1")), 11)
    assert record_key(first) == record_key(again)
    assert isinstance(record_key(first), int)


def test_the_same_key_in_another_partition_or_topic_is_another_key() -> None:
    routes = {
        record_key(fetched(topic, partition, b"customer-1"))
        for topic in ("orders", "payments")
        for partition in range(4)
    }
    assert len(routes) == 8


def test_the_keys_of_one_partition_spread_over_the_processors() -> None:
    processors = 4
    reached = {
        hash(record_key(fetched("orders", 0, f"k{i}".encode()))) % processors for i in range(64)
    }
    assert reached == set(range(processors))


def test_a_record_without_a_key_is_routed_by_its_partition() -> None:
    message = fetched("orders", 2, None)
    assert record_key(message) == partition_key(message)


def test_a_message_the_connector_did_not_fetch_is_keyed_by_its_metadata() -> None:
    metadata = {"topic": "orders", "partition": 1, "key": b"customer-1"}
    built = Message(b"v", acknowledger=ACK, metadata=metadata)
    assert record_key(built) == record_key(fetched("orders", 1, b"customer-1"))
    keyless = Message(b"v", acknowledger=ACK, metadata={**metadata, "key": None})
    assert record_key(keyless) == partition_key(keyless)


def options(**overrides: object) -> Options:
    return Options.model_validate(
        {"bootstrap_servers": "127.0.0.1:1", "topics": ["t"], "group_id": "g", **overrides}
    )


def test_key_ordering_is_record_key_and_refuses_ordered_mode() -> None:
    assert key_ordering(options()) is record_key
    with pytest.raises(ConfigurationError, match="ordered: true"):
        key_ordering(options(ordered=True))


# -- the pipeline file ---------------------------------------------------------------------


HANDLER = """
from broadway_py import Handler


class Keyed(Handler):
    def handle_message(self, message):
        return message

    def handle_batch(self, batcher, messages, info):
        return messages
"""


def pipeline_file(folder: Path, producer: str, processors: str, batcher: str = "") -> Path:
    module = f"key_handlers_{uuid.uuid4().hex[:10]}"
    (folder / f"{module}.py").write_text(HANDLER)
    text = f"""
    name: keyed
    handler: {module}:Keyed
    producer:
{textwrap.indent(textwrap.dedent(producer).strip(), " " * 6)}
    processors:
      concurrency: 4
{textwrap.indent(textwrap.dedent(processors).strip(), " " * 6)}
    """
    if batcher:
        text += f"""batchers:
      db:
        batch_size: 10
{textwrap.indent(textwrap.dedent(batcher).strip(), " " * 8)}
    """
    path = folder / "pipeline.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


KAFKA = """
kafka:
  bootstrap_servers: 127.0.0.1:1
  topics: [orders]
  group_id: orders
"""


def test_a_kafka_pipeline_file_routes_processors_and_batchers_by_record_key(
    tmp_path: Path,
) -> None:
    path = pipeline_file(tmp_path, KAFKA, "partition_by: key", "partition_by: key")
    _, pipeline = load_pipeline(path, env={})
    assert pipeline.processor_options.partition_by is record_key
    assert pipeline.batcher_options["db"].partition_by is record_key


def test_partition_by_key_elsewhere_leaves_the_other_stage_on_the_partition(
    tmp_path: Path,
) -> None:
    path = pipeline_file(tmp_path, KAFKA, "max_demand: 10", "partition_by: key")
    _, pipeline = load_pipeline(path, env={})
    assert pipeline.processor_options.partition_by is partition_key
    assert pipeline.batcher_options["db"].partition_by is record_key


def line_of(path: Path, text: str) -> int:
    """The (1-based) line of the one line of ``path`` that holds ``text``."""
    lines = [n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line]
    assert len(lines) == 1, lines
    return lines[0]


def problem(path: Path) -> str:
    with pytest.raises(ConfigFileError) as raised:
        load_pipeline(path, env={})
    return str(raised.value)


def test_partition_by_key_on_another_producer_is_a_located_error(tmp_path: Path) -> None:
    path = pipeline_file(tmp_path, "memory: {queue: orders}", "partition_by: key")
    text = problem(path)
    assert f"pipeline.yaml:{line_of(path, 'partition_by: key')}:" in text
    assert "processors.partition_by" in text
    assert "supported by the kafka producer only, not by memory" in text


def test_partition_by_key_with_ordered_retries_is_a_located_error(tmp_path: Path) -> None:
    path = pipeline_file(
        tmp_path, KAFKA + "  ordered: true\n", "max_demand: 10", "partition_by: key"
    )
    text = problem(path)
    assert "batchers.db.partition_by" in text
    assert "ordered: true" in text
    assert f"pipeline.yaml:{line_of(path, 'partition_by: key')}:" in text
