"""``producer.acknowledge: on_receive``: acked once, as received; failures are lost, not retried.

On the in-memory broker, whose queue counts what it was told: the real
brokers' case (a SIGKILL loses what was in flight) is tests/fault/test_on_receive.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from broadway_py import (
    BatcherOptions,
    BatchInfo,
    Handler,
    Message,
    Pipeline,
    ProcessorOptions,
    ProducerOptions,
    RetryPolicy,
)
from broadway_py.connectors.memory import MemoryBroker, MemoryProducer, MemoryQueue
from broadway_py.errors import ConfigurationError
from broadway_py.telemetry import Event, MessagesAcked, Telemetry
from tests.support import wait_until


class Watching(Handler):
    """Notes how many messages its queue had acked when each message arrived."""

    def __init__(self, queue: MemoryQueue) -> None:
        self.queue = queue
        self.acked_when_handled: list[int] = []

    def handle_message(self, message: Message) -> Message:
        self.acked_when_handled.append(self.queue.stats.successful)
        if message.data % 4 == 0:
            raise ValueError(f"bad {message.data}")
        return message.put_batcher("out")

    def handle_batch(self, batcher: str, messages: list[Message], info: BatchInfo) -> Any:
        return messages


def setup(
    count: int, retry: RetryPolicy | None = None
) -> tuple[MemoryQueue, Watching, Pipeline, list[Event]]:
    queue = MemoryBroker(record=True).queue("q")
    queue.push_many(list(range(count)))
    handler = Watching(queue)
    telemetry = Telemetry("on-receive")
    events: list[Event] = []
    telemetry.subscribe(events.append)
    pipeline = Pipeline(
        "on-receive",
        handler,
        ProducerOptions(MemoryProducer.factory(queue), acknowledge="on_receive"),
        ProcessorOptions(concurrency=2, max_demand=10),
        [BatcherOptions("out", batch_size=5, batch_timeout=0.01)],
        retry=retry or RetryPolicy(),
        telemetry=telemetry,
    )
    return queue, handler, pipeline, events


async def test_each_message_is_acked_once_as_received_and_a_failure_is_not_retried(
    caplog: pytest.LogCaptureFixture,
) -> None:
    queue, handler, pipeline, events = setup(40)
    async with pipeline:
        await queue.wait_idle(30)
        await wait_until(lambda: len(pipeline.in_flight) == 0, 30, "nothing in flight")
    # The broker saw every message acked as successful, once: nothing retried, dead-lettered.
    assert queue.stats.successful == 40
    assert (queue.stats.retried, queue.stats.dead_lettered, queue.stats.discarded) == (0, 0, 0)
    assert queue.stats.redelivered == 0
    assert queue.dead_letters == []
    assert queue.outcomes is not None
    assert sorted(queue.outcomes.by_id) == list(range(1, 41))
    assert all(outcomes == ["acked"] for outcomes in queue.outcomes.by_id.values())
    # Every message was acked before its handler saw it (a chunk at a time).
    assert all(acked >= 1 for acked in handler.acked_when_handled)
    assert len(handler.acked_when_handled) == 40
    # The failures are counted (as discarded) and logged.
    acked = [e for e in events if isinstance(e, MessagesAcked)]
    assert sum(e.discarded for e in acked) == 10
    assert sum(e.retried + e.dead_lettered for e in acked) == 0
    assert "acknowledged on receipt (producer.acknowledge: on_receive) and are lost" in caplog.text
    assert "first: ValueError: bad" in caplog.text


async def test_retry_settings_are_not_used_and_a_warning_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    queue, _, pipeline, _ = setup(8, RetryPolicy(max_attempts=5))
    async with pipeline:
        await queue.wait_idle(30)
    assert "the retry settings are not used" in caplog.text
    assert queue.stats.retried == 0


def test_acknowledge_takes_two_values() -> None:
    with pytest.raises(ConfigurationError, match=r"producer\.acknowledge"):
        ProducerOptions(MemoryProducer.factory("q"), acknowledge="never")  # type: ignore[arg-type]
    assert ProducerOptions(MemoryProducer.factory("q")).acknowledge == "after_processing"
