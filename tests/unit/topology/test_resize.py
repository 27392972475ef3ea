"""Resizing processors and batch processors while the pipeline runs, on the memory broker."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Hashable
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
    ShutdownOptions,
)
from broadway_py.connectors.memory import MemoryProducer, MemoryQueue
from broadway_py.errors import ConfigurationError, PipelineNotRunning
from broadway_py.telemetry import StageGroup
from tests.support import CrashingProducer, wait_until

KEYS = 7


def by_key(message: Message) -> Hashable:
    key: Hashable = message.metadata["key"]
    return key


class Ordered(Handler):
    """Records each key's sequence numbers, as handled and as batched; a little slow."""

    def __init__(self, batcher: str | None = None, delay: float = 0.001) -> None:
        self.batcher = batcher
        self.delay = delay
        self.handled: dict[int, list[int]] = {}
        self.batched: dict[int, list[int]] = {}
        self.gate = asyncio.Event()
        self.gate.set()

    async def handle_message(self, message: Message) -> Message:
        await self.gate.wait()
        await asyncio.sleep(self.delay)  # sleep-ok: simulated work, keeps the stages busy
        key, sequence = message.data
        self.handled.setdefault(key, []).append(sequence)
        if self.batcher is not None:
            message.put_batcher(self.batcher)
        return message

    async def handle_batch(
        self, batcher: str, messages: list[Message], info: BatchInfo
    ) -> list[Message]:
        await asyncio.sleep(self.delay)  # sleep-ok: simulated work
        for message in messages:
            key, sequence = message.data
            self.batched.setdefault(key, []).append(sequence)
        return messages


class Stream:
    """Pushes messages of ``KEYS`` keys, each key numbered from 0, as the test asks."""

    def __init__(self, queue: MemoryQueue) -> None:
        self.queue = queue
        self.next = [0] * KEYS
        self.pushed = 0

    def push(self, count: int) -> None:
        for _ in range(count):
            key = self.pushed % KEYS
            self.queue.push((key, self.next[key]), {"key": key})
            self.next[key] += 1
            self.pushed += 1


def pipeline_of(
    handler: Ordered, queue: MemoryQueue, processors: ProcessorOptions, **kwargs: Any
) -> Pipeline:
    return Pipeline(
        "resized", handler, ProducerOptions(MemoryProducer.factory(queue)), processors, **kwargs
    )


def acked_once(queue: MemoryQueue, count: int) -> None:
    assert queue.outcomes is not None
    assert queue.stats.stale_acks == 0
    assert queue.stats.successful == count
    assert len(queue.outcomes.by_id) == count
    assert all(outcomes == ["acked"] for outcomes in queue.outcomes.by_id.values())


def running(pipeline: Pipeline, prefix: str) -> int:
    kind: StageGroup = "processor" if prefix == "processor_" else "batcher"
    return sum(name.startswith(prefix) for name in pipeline.running_stages(kind))


async def handled_more(handler: Ordered, than: int) -> None:
    await wait_until(
        lambda: sum(map(len, handler.handled.values())) > than, 10, "more messages handled"
    )


async def test_processors_resize_up_and_down_under_load_without_partition_by() -> None:
    queue = MemoryQueue("q", record=True)
    stream = Stream(queue)
    handler = Ordered()
    pipeline = pipeline_of(handler, queue, ProcessorOptions(concurrency=4, max_demand=5))
    stream.push(400)
    await pipeline.start()
    try:
        for size in (8, 2, 1, 5, 3):
            await handled_more(handler, sum(map(len, handler.handled.values())))
            assert await pipeline.resize(processors=size) == {"processors": size, "batchers": {}}
            assert running(pipeline, "processor_") == size
            assert pipeline.describe()["processors"]["concurrency"] == size
            stream.push(200)
        await queue.wait_idle(30)
    finally:
        await pipeline.stop()
    acked_once(queue, stream.pushed)
    assert sorted(s for seen in handler.handled.values() for s in seen) == sorted(
        s for k in range(KEYS) for s in range(stream.next[k])
    )


async def test_per_key_order_holds_across_resizes_with_partition_by() -> None:
    queue = MemoryQueue("q", record=True)
    stream = Stream(queue)
    handler = Ordered(batcher="db")
    pipeline = pipeline_of(
        handler,
        queue,
        ProcessorOptions(concurrency=3, max_demand=10, partition_by=by_key),
        batchers=[
            BatcherOptions(
                "db", batch_size=4, batch_timeout=0.05, concurrency=2, partition_by=by_key
            )
        ],
    )
    stream.push(300)
    await pipeline.start()
    try:
        for processors, db in ((6, 3), (2, 1), (1, 4), (4, 2)):
            await handled_more(handler, sum(map(len, handler.handled.values())))
            sizes = await pipeline.resize(processors=processors, batchers={"db": db})
            assert sizes == {"processors": processors, "batchers": {"db": db}}
            assert running(pipeline, "processor_") == processors
            assert running(pipeline, "batch_processor_db_") == db
            described = pipeline.describe()
            assert described["processors"]["concurrency"] == processors
            assert described["batchers"][0]["concurrency"] == db
            stream.push(150)
        await queue.wait_idle(30)
    finally:
        await pipeline.stop()
    acked_once(queue, stream.pushed)
    for key in range(KEYS):
        expected = list(range(stream.next[key]))
        assert handler.handled[key] == expected, f"key {key} handled out of order"
        assert handler.batched[key] == expected, f"key {key} batched out of order"


async def test_batch_processors_resize_without_partition_by() -> None:
    queue = MemoryQueue("q", record=True)
    stream = Stream(queue)
    handler = Ordered(batcher="db")
    pipeline = pipeline_of(
        handler,
        queue,
        ProcessorOptions(concurrency=2, max_demand=10),
        batchers=[BatcherOptions("db", batch_size=5, batch_timeout=0.05, concurrency=1)],
    )
    stream.push(300)
    await pipeline.start()
    try:
        for db in (4, 1, 3):
            await handled_more(handler, sum(map(len, handler.handled.values())))
            await pipeline.resize(batchers={"db": db})
            assert running(pipeline, "batch_processor_db_") == db
            assert running(pipeline, "processor_") == 2
            stream.push(100)
        await queue.wait_idle(30)
    finally:
        await pipeline.stop()
    acked_once(queue, stream.pushed)


async def test_bad_sizes_name_the_option_and_change_nothing() -> None:
    queue = MemoryQueue("q")
    handler = Ordered(batcher="db")
    pipeline = pipeline_of(
        handler, queue, ProcessorOptions(concurrency=2), batchers=[BatcherOptions("db")]
    )
    with pytest.raises(PipelineNotRunning):
        await pipeline.resize(processors=3)
    await pipeline.start()
    try:
        await wait_until(lambda: running(pipeline, "processor_") == 2, 10, "the processors")
        bad: list[tuple[dict[str, Any], str]] = [
            ({"processors": 0}, "processors.concurrency"),
            ({"processors": 10_001}, "processors.concurrency"),
            ({"processors": 2.5}, "processors.concurrency"),
            ({"processors": True}, "processors.concurrency"),
            ({"batchers": {"db": 0}}, "batchers.db.concurrency"),
            ({"batchers": {"nope": 2}}, "batchers.nope"),
            ({"processors": 3, "batchers": {"db": -1}}, "batchers.db.concurrency"),
        ]
        for arguments, option in bad:
            with pytest.raises(ConfigurationError) as raised:
                await pipeline.resize(**arguments)
            assert raised.value.option == option, arguments
        assert pipeline.sizes() == {"processors": 2, "batchers": {"db": 1}}
        assert running(pipeline, "processor_") == 2
    finally:
        await pipeline.stop()
    with pytest.raises(PipelineNotRunning):
        await pipeline.resize(processors=3)


async def test_concurrent_resizes_take_turns() -> None:
    queue = MemoryQueue("q", record=True)
    stream = Stream(queue)
    handler = Ordered()
    pipeline = pipeline_of(
        handler, queue, ProcessorOptions(concurrency=2, max_demand=5, partition_by=by_key)
    )
    stream.push(200)
    await pipeline.start()
    try:
        results = await asyncio.gather(*(pipeline.resize(processors=n) for n in (5, 1, 3)))
        assert [r["processors"] for r in results] == [5, 1, 3]
        assert running(pipeline, "processor_") == 3
        await queue.wait_idle(30)
    finally:
        await pipeline.stop()
    acked_once(queue, stream.pushed)
    for key in range(KEYS):
        assert handler.handled[key] == list(range(stream.next[key]))


async def test_a_keyed_resize_that_cannot_finish_in_time_changes_nothing() -> None:
    queue = MemoryQueue("q", record=True)
    stream = Stream(queue)
    handler = Ordered()
    pipeline = pipeline_of(
        handler, queue, ProcessorOptions(concurrency=2, max_demand=5, partition_by=by_key)
    )
    handler.gate.clear()  # every handler call waits: the processors never go quiet
    stream.push(50)
    await pipeline.start()
    try:
        await wait_until(lambda: queue.unacked > 0, 10, "messages in flight")
        with pytest.raises(TimeoutError, match="nothing was resized"):
            await pipeline.resize(processors=4, timeout=0.2)
        assert pipeline.sizes()["processors"] == 2
        assert running(pipeline, "processor_") == 2
        handler.gate.set()
        await queue.wait_idle(30)
    finally:
        await pipeline.stop()
    acked_once(queue, stream.pushed)


async def test_a_drain_during_a_resize_finishes_within_its_timeout() -> None:
    queue = MemoryQueue("q", record=True)
    stream = Stream(queue)
    handler = Ordered(delay=0.005)
    pipeline = pipeline_of(
        handler,
        queue,
        ProcessorOptions(concurrency=2, max_demand=5, partition_by=by_key),
        shutdown=ShutdownOptions(drain_timeout=10),
    )
    stream.push(200)
    await pipeline.start()
    await handled_more(handler, 10)
    resizing = asyncio.create_task(pipeline.resize(processors=4))
    context = pipeline._context
    assert context is not None
    await wait_until(lambda: context.dispatch.gate.closed is not None, 10, "the resize to start")
    loop = asyncio.get_running_loop()
    started = loop.time()
    await pipeline.stop()
    assert loop.time() - started < 10
    assert pipeline.state == "stopped"
    with contextlib.suppress(PipelineNotRunning):  # the drain came first: nothing resized
        assert (await resizing)["processors"] == 4
    # Everything handed out was acked once; the rest is still in the queue, not lost.
    assert queue.stats.stale_acks == 0
    assert queue.stats.successful + queue.ready == stream.pushed
    assert queue.unacked == 0


async def test_a_restart_after_a_resize_restarts_the_new_sizes() -> None:
    queue = MemoryQueue("q", record=True)
    stream = Stream(queue)
    handler = Ordered(batcher="db")
    pipeline = Pipeline(
        "resized",
        handler,
        ProducerOptions(CrashingProducer(MemoryProducer(queue), crash_after=200)),
        ProcessorOptions(concurrency=2, max_demand=10, partition_by=by_key),
        [
            BatcherOptions(
                "db", batch_size=5, batch_timeout=0.05, concurrency=1, partition_by=by_key
            )
        ],
    )
    stream.push(150)
    await pipeline.start()
    try:
        await handled_more(handler, 20)
        await pipeline.resize(processors=4, batchers={"db": 3})
        stream.push(200)  # the producer crashes past 200: every group restarts
        await wait_until(lambda: pipeline.restarts == 1, 10, "the restart")
        await wait_until(lambda: running(pipeline, "processor_") == 4, 10, "4 processors")
        assert running(pipeline, "batch_processor_db_") == 3
        await queue.wait_idle(30)
    finally:
        await pipeline.stop()
    assert queue.outcomes is not None
    assert queue.stats.stale_acks == 0
    assert queue.stats.successful == stream.pushed
    assert all(outcomes[-1] == "acked" for outcomes in queue.outcomes.by_id.values())
    assert len(queue.outcomes.by_id) == stream.pushed
