"""broadway_py.testing: a pipeline file, its producer swapped for an in-memory queue."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import pytest

from broadway_py.config import ConfigFileError
from broadway_py.connectors.memory import MemoryProducer
from broadway_py.testing import PipelineFiles, load_for_test, pipeline_from_file
from tests.unit.config.conftest import Workspace

HANDLERS = """
from broadway_py import Handler


class Orders(Handler):
    def handle_message(self, message):
        if message.data["total"] < 0:
            raise ValueError("negative total")
        return message.put_batcher("db").put_batch_key(message.data["customer"])

    def handle_batch(self, batcher, messages, info):
        return messages


def tag(message):
    message.metadata["tagged"] = True
    return message
"""

KAFKA_FILE = """
name: orders
handler: {h}:Orders
producer:
  concurrency: 2
  kafka:
    bootstrap_servers: ${KAFKA_BOOTSTRAP}
    topics: [orders]
    group_id: orders
  decode: json
  transformer: {h}:tag
processors:
  concurrency: ${PROCESSORS:3}
batchers:
  db:
    batch_size: 7
    batch_timeout: 0.25
retry:
  max_attempts: 3
  min_delay: 0
  max_delay: 0
"""

ENV = {"KAFKA_BOOTSTRAP": "127.0.0.1:1"}  # never connected to: the producer is swapped


@pytest.fixture
def orders_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(sys, "path", list(sys.path))  # the loader adds the file's folder
    workspace = Workspace(tmp_path)
    workspace.handlers = workspace.module(HANDLERS, "testing_handlers")
    return workspace.file(KAFKA_FILE)


def test_the_producer_is_a_memory_queue_and_every_other_option_is_the_files(
    orders_file: Path,
) -> None:
    pipeline, queue = load_for_test(orders_file, env=ENV)
    options = pipeline.producer_options
    made = options.make_producers()
    assert [type(p) for p in made] == [MemoryProducer, MemoryProducer]
    assert all(isinstance(p, MemoryProducer) and p.queue is queue for p in made)
    assert options.transform is not None  # decode json, then the file's transformer
    described = pipeline.describe()
    assert described["processors"]["concurrency"] == 3
    assert described["processors"]["partition_by"] is None  # Kafka's key needs Kafka metadata
    assert described["batchers"][0] == {
        "name": "db",
        "batch_size": 7,
        "max_bytes": None,
        "batch_timeout": 0.25,
        "concurrency": 1,
        "partition_by": None,
    }
    assert described["retry"]["max_attempts"] == 3


def test_overrides_and_the_environment_apply_as_for_run(orders_file: Path) -> None:
    pipeline, _ = load_for_test(
        orders_file, ["retry.max_attempts=1"], env={**ENV, "PROCESSORS": "5"}
    )
    assert pipeline.retry.max_attempts == 1
    assert pipeline.processor_options.concurrency == 5


def test_a_file_with_problems_raises_them(orders_file: Path) -> None:
    with pytest.raises(ConfigFileError, match=r"pipeline\.yaml:\d+:\d+: .*KAFKA_BOOTSTRAP"):
        load_for_test(orders_file, env={})
    with pytest.raises(ConfigFileError, match=r"--set processors\.concurrency=\.\.\.: "):
        load_for_test(orders_file, ["processors.concurrency=0"], env=ENV)


async def test_test_message_meets_decode_and_the_transformer(orders_file: Path) -> None:
    async with pipeline_from_file(orders_file, env=ENV) as harness:
        acked = await harness.test_message(b'{"customer": 4, "total": 1}')
        poison = await harness.test_message(b"not json")
    assert acked.status.ok
    assert acked.data == {"customer": 4, "total": 1}
    assert acked.metadata["tagged"] is True
    assert (acked.batcher, acked.batch_key) == ("db", 4)
    assert poison.decision is not None
    assert poison.decision.kind == "dead_letter"
    assert harness.pipeline.state == "stopped"


async def test_pushed_bytes_go_through_the_producer_stage(orders_file: Path) -> None:
    async with pipeline_from_file(orders_file, env=ENV) as harness:
        good = harness.push(b'{"customer": 1, "total": 5}')
        failing = harness.push(b'{"customer": 1, "total": -1}')
        poison = harness.push(b"{nope")
        await harness.settle()
    assert harness.outcomes(good) == ["acked"]
    assert harness.outcomes(failing) == ["retried", "retried", "dead_lettered"]
    assert harness.outcomes(poison) == ["dead_lettered"]  # decode failed: never retried
    reasons = {d.id: d.reason for d in harness.dead_letters}
    assert reasons[failing] == "ValueError: negative total"
    assert "not valid JSON" in reasons[poison]
    assert harness.stats.acked == 1


async def test_pipeline_files_reads_relative_paths_from_its_folder_and_stops_them(
    orders_file: Path,
) -> None:
    async with contextlib.AsyncExitStack() as stack:
        files = PipelineFiles(stack, orders_file.parent)
        harness = await files(orders_file.name, env=ENV)
        assert harness.pipeline.state == "running"
    assert harness.pipeline.state == "stopped"
