"""The contract's key checks with two producers of different kinds in one pipeline.

Two harnesses (memory + RabbitMQ, RabbitMQ + Kafka, memory + SQS) feed the
same processors, batchers and supervisor through ``Pipeline(producers=...)``.
Each message must be acknowledged once, to its own broker; its retries must
come back through its own broker with the attempt counted there, and its dead
letter must land in its own broker's dead-letter destination, never the other's.
"""

from __future__ import annotations

import importlib
from collections import Counter
from collections.abc import AsyncIterator

import pytest

from broadway_py import (
    BatcherOptions,
    Message,
    Pipeline,
    ProcessorOptions,
    RetryPolicy,
)
from tests.contract.harness import ConnectorHarness
from tests.support import Recorder, payloads, wait_until

N = 30
PAIRS = [
    pytest.param(("memory", "rabbitmq"), marks=pytest.mark.rabbitmq, id="memory+rabbitmq"),
    pytest.param(
        ("rabbitmq", "kafka"), marks=[pytest.mark.rabbitmq, pytest.mark.kafka], id="rabbitmq+kafka"
    ),
    pytest.param(("memory", "sqs"), marks=pytest.mark.sqs, id="memory+sqs"),
]

Pair = tuple[ConnectorHarness, ConnectorHarness]


@pytest.fixture(params=PAIRS)
async def pair(request: pytest.FixtureRequest) -> AsyncIterator[Pair]:
    made: list[ConnectorHarness] = []
    try:
        for name in request.param:
            harness: ConnectorHarness = importlib.import_module(
                f"tests.contract.harness_{name}"
            ).HARNESS()
            await harness.setup()
            made.append(harness)
        yield made[0], made[1]
    finally:
        for harness in made:
            await harness.teardown()


def _policy(pair: Pair, attempts: int) -> RetryPolicy:
    delay = max(h.retry_delay for h in pair)
    return RetryPolicy(max_attempts=attempts, min_delay=delay, max_delay=delay, jitter=0)


def _pipeline(pair: Pair, recorder: Recorder, attempts: int, batched: bool = False) -> Pipeline:
    first, second = pair
    return Pipeline(
        "contract-two",
        recorder,
        producers={"first": first.producer_options(), "second": second.producer_options()},
        processors=ProcessorOptions(concurrency=2, max_demand=10),
        batchers=[BatcherOptions("default", batch_size=7, batch_timeout=0.2)] if batched else (),
        retry=_policy(pair, attempts),
    )


async def _nothing_left(pair: Pair) -> bool:
    return all([await h.remaining() == 0 for h in pair])


def _patience(pair: Pair) -> float:
    return max(h.patience for h in pair)


async def test_each_message_is_acked_once_by_its_own_broker(pair: Pair) -> None:
    first, second = pair
    sent_first, sent_second = payloads(N, "a"), payloads(N, "b")
    await first.publish(sent_first)
    await second.publish(sent_second)
    recorder = Recorder(batcher="default")
    pipeline = _pipeline(pair, recorder, attempts=3, batched=True)
    async with pipeline:
        everything = set(sent_first + sent_second)
        await wait_until(lambda: recorder.payloads() == everything, _patience(pair), "all seen")
        await wait_until(
            lambda: sum(map(len, recorder.batches)) >= 2 * N, _patience(pair), "all batched"
        )
        await wait_until(lambda: _nothing_left(pair), _patience(pair), "both sources acked")
        status = pipeline.describe()
    assert pipeline.state == "stopped"
    assert Counter(d for batch in recorder.batches for d in batch) == dict.fromkeys(everything, 1)
    assert all(attempt == 1 for _, attempt in recorder.seen)
    assert await first.dead_lettered() == []
    assert await second.dead_lettered() == []
    assert list(status["producers"]) == ["first", "second"]


async def test_retries_and_dead_letters_stay_on_each_message_s_broker(pair: Pair) -> None:
    first, second = pair
    # "x" payloads always fail (dead-lettered after 2 attempts); "r" ones fail once.
    retried = {name: payloads(8, f"r{name}") for name in ("a", "b")}
    doomed = {name: payloads(4, f"x{name}") for name in ("a", "b")}
    await first.publish(retried["a"] + doomed["a"])
    await second.publish(retried["b"] + doomed["b"])

    def fails(message: Message) -> bool:
        return message.data.startswith(b"x") or message.attempt == 1

    recorder = Recorder(fail=fails)
    pipeline = _pipeline(pair, recorder, attempts=2)
    async with pipeline:

        async def all_dead() -> bool:
            return len(await first.dead_lettered()) >= len(doomed["a"]) and len(
                await second.dead_lettered()
            ) >= len(doomed["b"])

        await wait_until(all_dead, _patience(pair), "every doomed message dead-lettered")
        await wait_until(
            lambda: len(recorder.seen) >= 2 * (16 + 8), _patience(pair), "two attempts each"
        )
        await wait_until(lambda: _nothing_left(pair), _patience(pair), "both sources acked")
    assert sorted(await first.dead_lettered()) == sorted(doomed["a"])
    assert sorted(await second.dead_lettered()) == sorted(doomed["b"])
    attempts: dict[bytes, list[int]] = {}
    for data, attempt in recorder.seen:
        attempts.setdefault(data, []).append(attempt)
    every = [*retried["a"], *retried["b"], *doomed["a"], *doomed["b"]]
    assert {d: sorted(a) for d, a in attempts.items()} == {d: [1, 2] for d in every}


async def test_a_drain_stops_every_producer(pair: Pair) -> None:
    first, second = pair
    sent_first, sent_second = payloads(N, "da"), payloads(N, "db")
    await first.publish(sent_first)
    await second.publish(sent_second)
    recorder = Recorder()
    pipeline = _pipeline(pair, recorder, attempts=3)
    await pipeline.start()
    await wait_until(
        lambda: recorder.payloads() == set(sent_first + sent_second), _patience(pair), "all seen"
    )
    await pipeline.stop()
    assert pipeline.state == "stopped"
    assert await _nothing_left(pair)
    assert len(pipeline.producers) == 2
    assert pipeline.producer_names == ["first", "second"]
