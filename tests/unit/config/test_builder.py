"""From a pipeline file to a running Pipeline: decode, references, retry, defaults."""

from __future__ import annotations

import asyncio
import typing
import uuid
from typing import Any

import pytest

from broadway_py import Message, NoopAcknowledger, PoisonMessageError
from broadway_py.config import load_pipeline, parse_set
from broadway_py.config.decode import decode_json
from broadway_py.config.models import SECTIONS
from broadway_py.connectors.memory import DEFAULT_BROKER, MemoryQueue
from broadway_py.errors import DecodeError
from broadway_py.option_spec import options_of
from broadway_py.pipeline import Pipeline
from broadway_py.producer import Producer
from tests.unit.config.conftest import Workspace

RECORDING = """
import sys
from broadway_py import Handler

SEEN = []
BATCHES = []


class Recording(Handler):
    def handle_message(self, message):
        SEEN.append((message.data, message.attempt))
        if isinstance(message.data, dict) and message.data.get("fail") == "transient":
            raise TimeoutError("try again")
        if isinstance(message.data, dict) and message.data.get("fail") == "fatal":
            raise KeyError("never")
        return message.put_batcher("db")

    def handle_batch(self, batcher, messages, info):
        BATCHES.append([m.data for m in messages])
        return messages


def stamp(message):
    message.data = {"stamped": message.data}
    return message
"""


def queue_name() -> str:
    return f"test-{uuid.uuid4().hex[:8]}"


async def run_until_idle(pipeline: Pipeline, queue: MemoryQueue) -> None:
    await pipeline.start()
    try:
        await queue.wait_idle(10)
    finally:
        await pipeline.stop()


def module_attr(workspace: Workspace, module: str, name: str) -> Any:
    import importlib

    return getattr(importlib.import_module(module), name)


async def test_finite_generator_runs_to_completion_with_json_decoded(
    workspace: Workspace,
) -> None:
    module = workspace.module(RECORDING, "recording")
    path = workspace.file(
        f"""
        name: generated
        handler: {module}:Recording
        producer:
          generator:
            count: 250
            payload: '{{"n": {{seq}}}}'
          decode: json
        processors:
          concurrency: 3
          max_demand: 20
        batchers:
          db: {{batch_size: 50, batch_timeout: 0.05}}
        """
    )
    _, pipeline = load_pipeline(path, env={})
    await asyncio.wait_for(pipeline.run(), 20)
    assert pipeline.state == "stopped"
    seen = module_attr(workspace, module, "SEEN")
    assert sorted(data["n"] for data, _ in seen) == list(range(250))
    batches = module_attr(workspace, module, "BATCHES")
    assert sum(len(b) for b in batches) == 250
    assert max(len(b) for b in batches) <= 50


async def test_a_payload_that_does_not_decode_is_dead_lettered_never_retried(
    workspace: Workspace,
) -> None:
    module = workspace.module(RECORDING, "recording")
    name = queue_name()
    path = workspace.file(
        f"""
        name: decode
        handler: {module}:Recording
        producer:
          memory: {{queue: {name}}}
          decode: json
        batchers:
          db: {{batch_size: 10, batch_timeout: 0.05}}
        retry: {{max_attempts: 5, min_delay: 0}}
        """
    )
    _, pipeline = load_pipeline(path, env={})
    queue = DEFAULT_BROKER.queue(name)
    queue.push_many([b'{"n": 1}', b"not json", b"\xff\xfe\x00", b'{"n": 2}'])
    await run_until_idle(pipeline, queue)
    assert sorted(data["n"] for data, _ in module_attr(workspace, module, "SEEN")) == [1, 2]
    letters = {letter.data: letter for letter in queue.dead_letters}
    assert set(letters) == {b"not json", b"\xff\xfe\x00"}
    assert all(letter.attempt == 1 for letter in letters.values())
    assert letters[b"not json"].reason.startswith(
        "DecodeError: payload is not valid JSON: Expecting value: line 1 column 1"
    )
    assert queue.stats.retried == 0


async def test_text_decoding_and_a_transformer_after_it(workspace: Workspace) -> None:
    module = workspace.module(RECORDING, "recording")
    name = queue_name()
    path = workspace.file(
        f"""
        name: text
        handler: {module}:Recording
        producer:
          memory: {{queue: {name}}}
          decode: text
          transformer: {module}:stamp
        batchers:
          db: {{batch_size: 10, batch_timeout: 0.05}}
        """
    )
    _, pipeline = load_pipeline(path, env={})
    queue = DEFAULT_BROKER.queue(name)
    queue.push_many([b"already text", b"caf\xc3\xa9", b"\xc3("])
    await run_until_idle(pipeline, queue)
    seen = [data for data, _ in module_attr(workspace, module, "SEEN")]
    assert sorted(d["stamped"] for d in seen) == ["already text", "café"]
    (letter,) = queue.dead_letters
    assert (
        letter.reason
        == "DecodeError: payload is not UTF-8 text: invalid continuation byte at byte 0"
    )


async def test_never_retry_dead_letters_at_once_other_errors_retry(workspace: Workspace) -> None:
    module = workspace.module(RECORDING, "recording")
    name = queue_name()
    path = workspace.file(
        f"""
        name: retries
        handler: {module}:Recording
        producer:
          memory: {{queue: {name}}}
          decode: json
        batchers:
          db: {{batch_size: 10, batch_timeout: 0.05}}
        retry:
          max_attempts: 3
          min_delay: 0
          max_delay: 0
          never_retry: [KeyError]
        """
    )
    _, pipeline = load_pipeline(path, env={})
    queue = DEFAULT_BROKER.queue(name)
    queue.push_many([b'{"fail": "transient"}', b'{"fail": "fatal"}'])
    await run_until_idle(pipeline, queue)
    attempts = sorted(
        (data["fail"], attempt) for data, attempt in module_attr(workspace, module, "SEEN")
    )
    assert attempts == [("fatal", 1), ("transient", 1), ("transient", 2), ("transient", 3)]
    reasons = sorted((letter.attempt, letter.reason) for letter in queue.dead_letters)
    assert reasons == [(1, "KeyError: 'never'"), (3, "TimeoutError: try again")]


async def test_dead_letter_false_discards(workspace: Workspace) -> None:
    module = workspace.module(RECORDING, "recording")
    name = queue_name()
    path = workspace.file(
        f"""
        name: discard
        handler: {module}:Recording
        producer:
          memory: {{queue: {name}}}
          decode: json
        batchers:
          db: {{}}
        retry: {{dead_letter: false}}
        """
    )
    _, pipeline = load_pipeline(path, env={})
    queue = DEFAULT_BROKER.queue(name)
    queue.push(b"{oops")
    await run_until_idle(pipeline, queue)
    assert queue.dead_letters == []
    assert queue.stats.discarded == 1


def test_options_reach_the_pipeline(workspace: Workspace) -> None:
    path = workspace.file(
        """
        name: options
        handler: {h}:Orders
        producer:
          generator: {count: 5}
          concurrency: 2
        processors:
          concurrency: 3
          max_demand: 7
          min_demand: 2
          partition_by: metadata.customer
          executor: thread
        batchers:
          db:
            batch_size: 11
            max_bytes: 1000
            batch_timeout: 0.3
            concurrency: 2
            partition_by: {h}:key
        rate_limit: {allowed_messages: 9, interval: 2}
        retry: {max_attempts: 4, min_delay: 0.1, max_delay: 3, multiplier: 3, jitter: 0}
        shutdown: {drain_timeout: 4}
        supervisor: {max_restarts: 5, max_seconds: 6}
        """
    )
    _, pipeline = load_pipeline(path, [parse_set("processors.concurrency=5")], env={})
    assert pipeline.name == "options"
    producers = pipeline.producer_options
    assert producers.concurrency == 2
    made = producers.make_producers()
    assert len(made) == 2
    assert all(isinstance(p, Producer) for p in made)
    processors = pipeline.processor_options
    assert (processors.concurrency, processors.max_demand, processors.min_demand) == (5, 7, 2)
    assert processors.executor == "thread"
    partition = processors.partition_by
    assert partition is not None
    assert partition.__qualname__ == "metadata.customer"
    message = Message(b"", acknowledger=NoopAcknowledger(), metadata={"customer": "c-7"})
    assert partition(message) == "c-7"
    db = pipeline.batcher_options["db"]
    assert (db.batch_size, db.max_bytes, db.batch_timeout, db.concurrency) == (11, 1000, 0.3, 2)
    assert db.partition_by is not None
    assert db.partition_by.__name__ == "key"
    assert pipeline.rate_limit is not None
    assert (pipeline.rate_limit.allowed_messages, pipeline.rate_limit.interval) == (9, 2)
    retry = pipeline.retry
    assert (retry.max_attempts, retry.min_delay, retry.max_delay) == (4, 0.1, 3)
    assert (retry.multiplier, retry.jitter, retry.dead_letter) == (3, 0, True)
    assert pipeline.shutdown.drain_timeout == 4
    assert (pipeline.supervisor_options.max_restarts, pipeline.supervisor_options.max_seconds) == (
        5,
        6,
    )
    # No decode step for bytes, no transformer: nothing on the hot path.
    assert producers.transformer is None


def test_decode_error_is_a_poison_message_error() -> None:
    message = Message(None, acknowledger=NoopAcknowledger())
    with pytest.raises(DecodeError) as caught:
        decode_json(message)
    assert isinstance(caught.value, PoisonMessageError)
    assert str(caught.value) == "payload is not valid JSON: expected bytes or text, not NoneType"
    ok = decode_json(Message(b'{"a": [1]}', acknowledger=NoopAcknowledger()))
    assert ok.data == {"a": [1]}


def test_handlers_import_from_the_working_directory_too(
    workspace: Workspace, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path_factory.mktemp("cwd")
    name = f"cwd_handlers_{uuid.uuid4().hex[:8]}"
    (elsewhere / f"{name}.py").write_text("def handle(message):\n    return message\n")
    monkeypatch.chdir(elsewhere)
    path = workspace.file(f"name: cwd\nhandler: {name}:handle\nproducer:\n  generator: {{}}\n")
    loaded, _ = load_pipeline(path, env={})
    assert getattr(loaded.references.handler, "__module__", None) == name


def _other_value(default: Any, described: Any, whole: bool) -> Any:
    """A value in bounds that is not the default."""
    base = default if isinstance(default, int | float) and not isinstance(default, bool) else None
    start = base if base is not None else (described.least or described.above or 0)
    value = start + 1 if whole else start + 0.5
    assert described.most is None or value <= described.most
    return value


def test_every_numeric_option_of_the_definition_reaches_the_pipeline(
    workspace: Workspace,
) -> None:
    """The builder passes each option through: a new one needs no edit here."""
    path = workspace.file(
        """
        name: walk
        handler: {h}:Orders
        producer:
          generator: {count: 5}
        batchers:
          db: {}
        """
    )
    built = {
        "producer": lambda p: p.producer_options,
        "processors": lambda p: p.processor_options,
        "batchers": lambda p: p.batcher_options["db"],
        "rate_limit": lambda p: p.rate_limit,
        "retry": lambda p: p.retry,
        "shutdown": lambda p: p.shutdown,
        "supervisor": lambda p: p.supervisor_options,
    }
    expected: list[tuple[str, str, Any]] = []
    sets = []
    for section, (cls, described) in SECTIONS.items():
        hints = typing.get_type_hints(cls)
        for name, default, found in options_of(cls, described):
            kind = hints[name]
            if found.reference or kind is bool or typing.get_origin(kind) is typing.Literal:
                continue
            whole = kind is int or int in typing.get_args(kind)
            value = _other_value(default, found, whole)
            assert value != default
            where = "batchers.db" if section == "batchers" else section
            sets.append(parse_set(f"{where}.{name}={value}"))
            expected.append((section, name, value))
    assert len(expected) >= 15
    _, pipeline = load_pipeline(path, sets, env={})
    for section, name, value in expected:
        assert getattr(built[section](pipeline), name) == value, f"{section}.{name}"
