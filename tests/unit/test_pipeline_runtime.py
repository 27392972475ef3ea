"""Supervision, drain, back-pressure, ordering, rate limiting and the test helpers."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

import pytest

from broadway_py import (
    BatcherOptions,
    BatchInfo,
    Handler,
    Message,
    Pipeline,
    PipelineFailed,
    PipelineNotRunning,
    ProcessorOptions,
    ProducerOptions,
    RateLimitOptions,
    RetryPolicy,
    ShutdownOptions,
    SupervisorOptions,
)
from broadway_py.connectors.memory import GeneratorProducer, MemoryBroker, MemoryProducer
from broadway_py.telemetry import Event, StageRestarted
from tests.support import CrashingProducer, Recorder, wait_until

NO_WAIT = RetryPolicy(max_attempts=3, min_delay=0, max_delay=0, jitter=0)


async def test_a_crashed_producer_is_restarted_and_nothing_is_lost() -> None:
    queue = MemoryBroker(record=True).queue("q")
    queue.push_many(range(200))
    recorder = Recorder()
    events: list[Event] = []
    p = Pipeline(
        "t",
        recorder,
        ProducerOptions(lambda: CrashingProducer(MemoryProducer(queue), crash_after=50)),
        ProcessorOptions(concurrency=2, max_demand=10),
        retry=NO_WAIT,
    )
    p.telemetry.subscribe(events.append)
    async with p:
        await queue.wait_idle(10)
    assert p.restarts == 1
    assert queue.stats.acked == 200
    assert queue.outcomes is not None
    assert all(outcomes[-1] == "acked" for outcomes in queue.outcomes.by_id.values())
    (restart,) = [e for e in events if isinstance(e, StageRestarted)]
    assert restart.group == "producer"
    assert "injected producer crash" in restart.reason


async def test_past_the_restart_intensity_run_raises() -> None:
    queue = MemoryBroker().queue("q")
    queue.push_many(range(100))
    p = Pipeline(
        "t",
        lambda m: m,
        ProducerOptions(lambda: CrashingProducer(MemoryProducer(queue), 0, crashes=100)),
        supervisor=SupervisorOptions(max_restarts=2, max_seconds=10),
    )
    with pytest.raises(PipelineFailed, match="more than 2 restarts"):
        await asyncio.wait_for(p.run(), 5)
    assert p.state == "failed"
    assert queue.unacked == 0  # handed back to the broker, not lost


async def test_a_batcher_crash_hands_back_only_what_the_batchers_held() -> None:
    class Crashy(Handler):
        crashed = False

        def handle_message(self, message: Message) -> Message:
            return message.put_batcher("b")

        def handle_batch(self, batcher: str, messages: list[Message], info: BatchInfo) -> None:
            return None

    queue = MemoryBroker(record=True).queue("q")
    queue.push_many(range(100))
    handler = Crashy()
    p = Pipeline(
        "t",
        handler,
        ProducerOptions(MemoryProducer.factory(queue)),
        batchers=[BatcherOptions("b", batch_size=10, batch_timeout=0.05)],
        retry=NO_WAIT,
    )
    original = queue.settle
    crashes = []

    def settle_then_crash(successful: Any, failed: Any) -> None:
        original(successful, failed)
        if successful and not crashes:
            crashes.append(1)
            raise ConnectionError("acker lost its connection")

    queue.settle = settle_then_crash  # type: ignore[method-assign]
    async with p:
        await queue.wait_idle(10)
    assert p.restarts == 1
    assert queue.stats.acked == 100
    assert queue.stats.stale_acks == 0


async def test_stop_drains_in_flight_work_and_flushes_partial_batches() -> None:
    queue = MemoryBroker().queue("q")
    queue.push_many(range(1000))
    recorder = Recorder(batcher="b", delay=0.001)
    p = Pipeline(
        "t",
        recorder,
        ProducerOptions(MemoryProducer.factory(queue)),
        ProcessorOptions(concurrency=2, max_demand=10),
        [BatcherOptions("b", batch_size=10_000, batch_timeout=3600)],
    )
    await p.start()
    await wait_until(lambda: len(recorder.seen) >= 50, 5, "progress")
    await asyncio.wait_for(p.stop(), 5)
    assert p.state == "stopped"
    handled = len(recorder.seen)
    assert sum(map(len, recorder.batches)) == handled
    assert queue.stats.acked == handled
    assert queue.unacked == 0
    assert queue.ready == 1000 - handled


async def test_drain_timeout_bounds_the_stop() -> None:
    queue = MemoryBroker().queue("q")
    queue.push_many(range(10))
    forever = asyncio.Event()

    async def stuck(message: Message) -> Message:
        await forever.wait()
        return message

    p = Pipeline(
        "t",
        stuck,
        ProducerOptions(MemoryProducer.factory(queue)),
        shutdown=ShutdownOptions(drain_timeout=0.2),
    )
    await p.start()
    await wait_until(lambda: queue.unacked > 0, 2, "delivery")
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.wait_for(p.stop(), 3)
    assert loop.time() - started < 1.5
    assert queue.unacked == 0
    assert queue.ready == 10  # left to the broker, redelivered later


async def test_sigterm_drains_a_running_pipeline() -> None:
    queue = MemoryBroker().queue("q")
    queue.push_many(range(100))
    p = Pipeline("t", lambda m: m, ProducerOptions(MemoryProducer.factory(queue)))
    running = asyncio.create_task(p.run())
    await wait_until(lambda: queue.stats.acked == 100, 5, "all acked")
    os.kill(os.getpid(), signal.SIGTERM)
    await asyncio.wait_for(running, 5)
    assert p.state == "stopped"


async def test_a_finite_generator_runs_to_completion() -> None:
    generator = GeneratorProducer(count=1234)
    recorder = Recorder(batcher="b")
    p = Pipeline(
        "t",
        recorder,
        ProducerOptions(generator),
        ProcessorOptions(concurrency=3),
        [BatcherOptions("b", batch_size=100, batch_timeout=5)],
    )
    await asyncio.wait_for(p.run(), 10)
    assert generator.counts.acked == 1234
    assert sum(map(len, recorder.batches)) == 1234


async def test_memory_stays_bounded_by_demand_with_a_slow_handler() -> None:
    generator = GeneratorProducer()  # endless
    peak = 0

    class Slow(Handler):
        async def handle_message(self, message: Message) -> Message:
            nonlocal peak
            peak = max(peak, len(p.in_flight))
            await asyncio.sleep(0.001)  # sleep-ok: simulated slow work
            return message.put_batcher("b")

        def handle_batch(self, batcher: str, messages: list[Message], info: BatchInfo) -> None:
            return None

    p = Pipeline(
        "t",
        Slow(),
        ProducerOptions(generator),
        ProcessorOptions(concurrency=4, max_demand=10),
        [BatcherOptions("b", batch_size=20, batch_timeout=0.05, concurrency=2)],
    )
    async with p:
        await wait_until(lambda: generator.counts.acked >= 500, 10, "progress")
    # 4 workers x 10 in hand + 40 buffered + one chunk per producer,
    # plus what the batchers may hold: a small constant, whatever the input.
    bound = 4 * 10 + 4 * 10 + 10 + 20 * 2 * 2 + 20 * 4
    assert 0 < peak <= bound
    assert generator.counts.generated - generator.counts.acked <= bound


async def test_partition_by_keeps_per_key_order() -> None:
    queue = MemoryBroker().queue("q")
    queue.push_many([(key, seq) for seq in range(50) for key in "abcdef"])
    order: dict[str, list[int]] = {}

    async def handle(message: Message) -> Message:
        key, seq = message.data
        await asyncio.sleep(0.0005 * (hash(key) % 3))  # sleep-ok: uneven work
        order.setdefault(key, []).append(seq)
        return message.put_batcher("b")

    class Ordered(Handler):
        def __init__(self) -> None:
            self.batched: dict[str, list[int]] = {}

        async def handle_message(self, message: Message) -> Message:
            return await handle(message)

        async def handle_batch(
            self, batcher: str, messages: list[Message], info: BatchInfo
        ) -> None:
            await asyncio.sleep(0.001 * (info.partition % 2))  # sleep-ok: uneven work
            for m in messages:
                self.batched.setdefault(m.data[0], []).append(m.data[1])

    handler = Ordered()
    key = lambda m: m.data[0]  # noqa: E731
    p = Pipeline(
        "t",
        handler,
        ProducerOptions(MemoryProducer.factory(queue)),
        ProcessorOptions(concurrency=4, max_demand=7, partition_by=key),
        [BatcherOptions("b", batch_size=5, batch_timeout=0.02, concurrency=3, partition_by=key)],
    )
    async with p:
        await queue.wait_idle(10)
    assert order == {k: list(range(50)) for k in "abcdef"}
    assert handler.batched == {k: list(range(50)) for k in "abcdef"}


async def test_the_rate_limit_holds_and_can_change_at_runtime() -> None:
    generator = GeneratorProducer()
    p = Pipeline(
        "t",
        lambda m: m,
        ProducerOptions(generator),
        ProcessorOptions(max_demand=10),
        rate_limit=RateLimitOptions(allowed_messages=50, interval=0.1),
    )
    loop = asyncio.get_running_loop()
    async with p:
        started = loop.time()
        await wait_until(lambda: generator.counts.acked >= 200, 5, "200 acked")
        elapsed = loop.time() - started
        assert elapsed >= 0.25  # 200 messages at 50 per 0.1 s: at least 3 intervals
        p.update_rate_limit(allowed_messages=1000)
        assert p.describe()["rate_limit"] == {"allowed_messages": 1000, "interval": 0.1}
        mark, started = generator.counts.acked, loop.time()
        await wait_until(lambda: generator.counts.acked >= mark + 2000, 5, "faster")
        assert loop.time() - started < elapsed * 10


async def test_test_message_and_test_batch_return_acked_outcomes() -> None:
    class Picky(Handler):
        def handle_message(self, message: Message) -> Message:
            if message.data == "bad":
                raise ValueError("bad data")
            return message.put_batcher("b")

        def handle_batch(self, batcher: str, messages: list[Message], info: BatchInfo) -> None:
            return None

    p = Pipeline(
        "t",
        Picky(),
        ProducerOptions(MemoryProducer.factory("unused", MemoryBroker())),
        batchers=[BatcherOptions("b", batch_size=100, batch_timeout=3600)],
        retry=RetryPolicy(max_attempts=1),
    )
    with pytest.raises(PipelineNotRunning):
        await p.test_message("x")
    async with p:
        ok = await asyncio.wait_for(p.test_message("good"), 2)
        assert ok.status.ok
        assert ok.batcher == "b"
        bad = await asyncio.wait_for(p.test_message("bad"), 2)
        assert bad.status.reason == "ValueError: bad data"
        assert bad.decision is not None
        assert bad.decision.kind == "dead_letter"
        batch = await asyncio.wait_for(p.test_batch(["a", "b", "bad"], batch_mode="flush"), 2)
        assert [m.status.ok for m in batch] == [True, True, False]


async def test_a_drain_does_not_wait_out_the_rate_limit_interval() -> None:
    generator = GeneratorProducer()
    p = Pipeline(
        "t",
        lambda m: m,
        ProducerOptions(generator),
        ProcessorOptions(max_demand=10),
        rate_limit=RateLimitOptions(allowed_messages=20, interval=3600),
        shutdown=ShutdownOptions(drain_timeout=10),
    )
    await p.start()
    await wait_until(lambda: generator.counts.acked == 20, 5, "the first interval's messages")
    loop = asyncio.get_running_loop()
    started = loop.time()
    await p.stop()
    assert loop.time() - started < 1
    assert p.state == "stopped"
