"""broadway_py.testing with ``producers:`` (a queue per producer) and ``partition_by: key``."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

import pytest

from broadway_py.config import ConfigFileError
from broadway_py.config.builder import load_pipeline
from broadway_py.connectors.kafka.key_ordering import ORDERED_CONFLICT
from broadway_py.connectors.memory import MemoryProducer
from broadway_py.testing import load_for_test, load_for_test_by_producer, pipeline_from_file
from tests.unit.config.conftest import Workspace

HANDLERS = """
import asyncio

SEEN = []  # (the producer whose transformer tagged it, its data), as handled


async def handle(message):
    SEEN.append((message.metadata["via"], message.data))
    if message.data in ({"fail": True}, "fail"):
        raise ValueError("asked to fail")
    return message


async def record_order(message):
    # Work of varying length: without a key's ordering, later messages overtake.
    await asyncio.sleep(0.001 * (int(message.data) % 4))  # sleep-ok: work of varying length
    SEEN.append((message.metadata.get("key"), int(message.data)))
    return message


def orders(message):
    message.metadata["via"] = "orders"
    return message


def refunds(message):
    message.metadata["via"] = "refunds"
    return message
"""

TWO_PRODUCERS = """
name: intake
handler: {h}:handle
producers:
  orders:
    kafka:
      bootstrap_servers: 127.0.0.1:1
      topics: [orders]
      group_id: intake
    decode: json
    transformer: {h}:orders
    concurrency: 2
  refunds:
    rabbitmq:
      url: amqp://guest:guest@127.0.0.1:1/
      queue: refunds
    decode: text
    transformer: {h}:refunds
retry:
  max_attempts: 2
  min_delay: 0
  max_delay: 0
"""

KAFKA_BY_KEY = """
name: keyed
handler: {h}:record_order
producer:
  kafka:
    bootstrap_servers: 127.0.0.1:1
    topics: [events]
    group_id: keyed
    ordered: ${ORDERED:false}
processors:
  concurrency: 4
  max_demand: 2
  partition_by: key
"""

RABBITMQ_BY_KEY = """
name: keyed
handler: {h}:record_order
producer:
  rabbitmq:
    url: amqp://guest:guest@127.0.0.1:1/
    queue: events
processors:
  partition_by: key
"""


class Files:
    def __init__(self, workspace: Workspace, handlers: ModuleType) -> None:
        self.workspace = workspace
        self.handlers = handlers

    def file(self, text: str) -> Path:
        return self.workspace.file(text)


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Files:
    monkeypatch.setattr(sys, "path", [*sys.path, str(tmp_path)])
    workspace = Workspace(tmp_path)
    workspace.handlers = workspace.module(HANDLERS, "testing_producers")
    return Files(workspace, importlib.import_module(workspace.handlers))


def test_each_named_producer_reads_its_own_queue_with_its_own_settings(files: Files) -> None:
    pipeline, queues = load_for_test_by_producer(files.file(TWO_PRODUCERS))
    assert {name: queue.name for name, queue in queues.items()} == {
        "orders": "intake-orders-under-test",
        "refunds": "intake-refunds-under-test",
    }
    for name, queue in queues.items():
        made = pipeline.producer_specs[name].make_producers()
        assert all(isinstance(p, MemoryProducer) and p.queue is queue for p in made)
    assert len(pipeline.producer_specs["orders"].make_producers()) == 2  # its concurrency
    assert pipeline.describe()["processors"]["partition_by"] is None  # no broker, no key
    _, first = load_for_test(files.file(TWO_PRODUCERS))
    assert first.name == "intake-orders-under-test"


async def test_pushes_through_each_producer_meet_its_decode_and_transformer(
    files: Files,
) -> None:
    async with pipeline_from_file(files.file(TWO_PRODUCERS)) as harness:
        order = harness.push(b'{"id": 1}', producer="orders")
        refund = harness.push(b"refund 1", producer="refunds")
        default = harness.push(b'{"id": 2}')  # the first producer's
        failing_order = harness.push(b'{"fail": true}', producer="orders")
        failing_refund = harness.push(b"fail", producer="refunds")
        await harness.settle()
        assert all(queue.is_idle() for queue in harness.queues.values())
    assert sorted(files.handlers.SEEN, key=repr) == sorted(
        [
            ("orders", {"id": 1}),
            ("refunds", "refund 1"),
            ("orders", {"id": 2}),
            ("orders", {"fail": True}),
            ("orders", {"fail": True}),
            ("refunds", "fail"),
            ("refunds", "fail"),
        ],
        key=repr,
    )
    assert harness.outcomes(order, producer="orders") == ["acked"]
    assert harness.outcomes(default) == ["acked"]
    assert harness.outcomes(refund, producer="refunds") == ["acked"]
    assert harness.outcomes(failing_order, producer="orders") == ["retried", "dead_lettered"]
    assert harness.outcomes(failing_refund, producer="refunds") == ["retried", "dead_lettered"]
    assert sorted((d.metadata["queue"], d.data) for d in harness.dead_letters) == [
        ("intake-orders-under-test", b'{"fail": true}'),
        ("intake-refunds-under-test", b"fail"),
    ]
    assert (harness.stats.pushed, harness.stats.acked, harness.stats.dead_lettered) == (5, 3, 2)


async def test_test_message_names_its_producer(files: Files) -> None:
    async with pipeline_from_file(files.file(TWO_PRODUCERS)) as harness:
        refund = await harness.test_message(b"refund 2", producer="refunds")
        order = await harness.test_batch([b'{"id": 3}'], producer="orders")
    assert (refund.status.ok, refund.metadata["via"], refund.data) == (True, "refunds", "refund 2")
    assert [(m.metadata["via"], m.data) for m in order] == [("orders", {"id": 3})]


async def test_an_unknown_producer_is_a_value_error_naming_the_producers(files: Files) -> None:
    async with pipeline_from_file(files.file(TWO_PRODUCERS)) as harness:
        with pytest.raises(ValueError, match=r"'returns'.*orders, refunds"):
            harness.push(b"x", producer="returns")
        with pytest.raises(ValueError, match=r"'returns'.*orders, refunds"):
            harness.outcomes(1, producer="returns")
        assert harness.stats.pushed == 0


async def test_partition_by_key_keeps_each_keys_order_across_processors(files: Files) -> None:
    keys = ["a", "b", None]
    async with pipeline_from_file(files.file(KAFKA_BY_KEY)) as harness:
        assert harness.pipeline.describe()["processors"]["partition_by"] == "metadata.key"
        for number in range(60):
            key = keys[number % len(keys)]
            harness.push(str(number).encode(), None if key is None else {"key": key})
        await harness.settle()
    assert harness.stats.acked == 60
    for key in keys:
        handled = [number for seen, number in files.handlers.SEEN if seen == key]
        assert handled == list(range(keys.index(key), 60, len(keys)))


def test_partition_by_key_with_kafka_ordered_raises_the_files_refusal(files: Files) -> None:
    path = files.file(KAFKA_BY_KEY)
    env = {"ORDERED": "true"}
    with pytest.raises(ConfigFileError) as under_test:
        load_for_test(path, env=env)
    with pytest.raises(ConfigFileError) as as_run:
        load_pipeline(path, env=env)  # what broadway-py run builds
    assert ORDERED_CONFLICT in str(under_test.value)
    assert str(under_test.value) == str(as_run.value)


def test_partition_by_key_on_rabbitmq_raises_naming_rabbitmq(files: Files) -> None:
    path = files.file(RABBITMQ_BY_KEY)
    with pytest.raises(ConfigFileError, match="not by rabbitmq") as under_test:
        load_for_test(path)
    with pytest.raises(ConfigFileError) as as_run:
        load_pipeline(path)
    assert "memory" not in str(under_test.value)
    assert str(under_test.value) == str(as_run.value)
