"""The contract every connector passes, against its real broker.

Consume N and ack; retry with the attempt count, and the same ``message.id``;
dead-letter; carry out the decisions ``handle_failed`` returns; drain; and
redelivery after a producer crash and after a hard kill.
"""

from __future__ import annotations

import asyncio
from collections import Counter

from broadway_py import (
    BatcherOptions,
    Decision,
    Message,
    Pipeline,
    ProcessorOptions,
    ProducerOptions,
    RetryPolicy,
    ShutdownOptions,
)
from tests.contract.harness import ConnectorHarness
from tests.support import CrashingProducer, Recorder, payloads, wait_until

N = 60


def _policy(harness: ConnectorHarness, attempts: int) -> RetryPolicy:
    delay = harness.retry_delay
    return RetryPolicy(max_attempts=attempts, min_delay=delay, max_delay=delay, jitter=0)


async def test_consumes_and_acks_every_message(harness: ConnectorHarness) -> None:
    sent = payloads(N)
    await harness.publish(sent)
    recorder = Recorder(batcher="default")
    pipeline = Pipeline(
        "contract",
        recorder,
        harness.producer_options(),
        ProcessorOptions(concurrency=2, max_demand=10),
        [BatcherOptions("default", batch_size=7, batch_timeout=0.2)],
        retry=_policy(harness, 3),
    )
    async with pipeline:
        await wait_until(lambda: recorder.payloads() == set(sent), harness.patience, "all seen")
        await wait_until(
            lambda: sum(map(len, recorder.batches)) >= N, harness.patience, "all batched"
        )
        await wait_until(
            _remaining_is(harness, 0), harness.patience, "the source to have nothing unacked"
        )
    assert sorted(d for batch in recorder.batches for d in batch) == sorted(sent)
    assert all(attempt == 1 for _, attempt in recorder.seen)
    assert await harness.dead_lettered() == []


async def test_retries_carry_the_attempt_count(harness: ConnectorHarness) -> None:
    sent = payloads(20, "r")
    await harness.publish(sent)
    recorder = Recorder(fail=lambda m: m.attempt < 3)
    pipeline = Pipeline(
        "contract",
        recorder,
        harness.producer_options(),
        ProcessorOptions(concurrency=2, max_demand=5),
        retry=_policy(harness, 3),
    )
    async with pipeline:
        await wait_until(
            lambda: len(recorder.seen) >= 3 * len(sent), harness.patience, "three attempts each"
        )
        await wait_until(_remaining_is(harness, 0), harness.patience, "nothing unacked")
    attempts: dict[bytes, list[int]] = {}
    for data, attempt in recorder.seen:
        attempts.setdefault(data, []).append(attempt)
    assert {d: sorted(a) for d, a in attempts.items()} == {d: [1, 2, 3] for d in sent}
    assert all(m.decision is not None and m.decision.kind == "retry" for m in recorder.failed_seen)
    assert await harness.dead_lettered() == []


async def test_id_is_stable_across_a_retry(harness: ConnectorHarness) -> None:
    sent = payloads(20, "i")
    await harness.publish(sent)
    ids: dict[bytes, list[tuple[int, str | None]]] = {}

    def first_attempt_fails(message: Message) -> bool:
        ids.setdefault(message.data, []).append((message.attempt, message.id))
        return message.attempt == 1

    recorder = Recorder(fail=first_attempt_fails)
    pipeline = Pipeline(
        "contract",
        recorder,
        harness.producer_options(),
        ProcessorOptions(concurrency=2, max_demand=5),
        retry=_policy(harness, 3),
    )
    async with pipeline:
        await wait_until(
            lambda: len(recorder.seen) >= 2 * len(sent), harness.patience, "two attempts each"
        )
        await wait_until(_remaining_is(harness, 0), harness.patience, "nothing unacked")
    assert sorted(ids) == sorted(sent)
    for data, seen in ids.items():
        assert sorted(a for a, _ in seen) == [1, 2], data
        (_, first), (_, second) = sorted(seen)
        assert first is not None, data
        assert second == first, data
    firsts = [seen[0][1] for seen in ids.values()]
    assert len(set(firsts)) == len(sent), "one id per message"


async def test_dead_letters_what_keeps_failing(harness: ConnectorHarness) -> None:
    sent = payloads(10, "d")
    await harness.publish(sent)
    recorder = Recorder(fail=lambda m: True)
    pipeline = Pipeline(
        "contract",
        recorder,
        harness.producer_options(),
        ProcessorOptions(concurrency=1, max_demand=5),
        retry=_policy(harness, 2),
    )
    async with pipeline:

        async def all_dead() -> bool:
            return len(await harness.dead_lettered()) >= len(sent)

        await wait_until(all_dead, harness.patience, "every message dead-lettered")
        await wait_until(_remaining_is(harness, 0), harness.patience, "nothing unacked")
    assert sorted(await harness.dead_lettered()) == sorted(sent)
    assert Counter(d for d, _ in recorder.seen) == dict.fromkeys(sent, 2)


class Redeciding(Recorder):
    """Fails every message; ``handle_failed`` returns them reversed, redecided by payload.

    ``d-…0``: discard, ``d-…1``: dead_letter, ``d-…2``: decision taken away, so the
    policy's again (a retry, then a dead letter). One ack call mixes all three.
    """

    def handle_failed(self, messages: list[Message]) -> list[Message]:
        self.failed_seen.extend(messages)
        for message in messages:
            kind = int(message.data.rsplit(b"-", 1)[1]) % 3
            if kind == 0:
                message.decision = Decision.discard("harmless")
            elif kind == 1:
                message.decision = Decision.dead_letter("unwanted")
            else:
                message.decision = None
        return list(reversed(messages))


async def test_carries_out_the_decisions_handle_failed_returns(harness: ConnectorHarness) -> None:
    sent = payloads(12, "h")
    await harness.publish(sent)
    recorder = Redeciding(fail=lambda m: True)
    pipeline = Pipeline(
        "contract",
        recorder,
        harness.producer_options(),
        ProcessorOptions(concurrency=1, max_demand=12),
        retry=_policy(harness, 2),
    )
    by_kind = {k: [d for d in sent if int(d.rsplit(b"-", 1)[1]) % 3 == k] for k in range(3)}
    expected_dead = sorted(by_kind[1] + by_kind[2])
    async with pipeline:

        async def all_dead() -> bool:
            return len(await harness.dead_lettered()) >= len(expected_dead)

        await wait_until(all_dead, harness.patience, "dead letters")
        await wait_until(_remaining_is(harness, 0), harness.patience, "nothing unacked")
    assert sorted(await harness.dead_lettered()) == expected_dead
    seen = Counter(d for d, _ in recorder.seen)
    assert seen == {**dict.fromkeys(by_kind[0] + by_kind[1], 1), **dict.fromkeys(by_kind[2], 2)}


async def test_drain_finishes_in_flight_and_flushes_batches(harness: ConnectorHarness) -> None:
    sent = payloads(N, "s")
    await harness.publish(sent)
    recorder = Recorder(batcher="default", delay=0.01)
    pipeline = Pipeline(
        "contract",
        recorder,
        harness.producer_options(),
        ProcessorOptions(concurrency=2, max_demand=4),
        [BatcherOptions("default", batch_size=1000, batch_timeout=60)],
        shutdown=ShutdownOptions(drain_timeout=harness.patience),
    )
    await pipeline.start()
    await wait_until(lambda: len(recorder.seen) >= 10, harness.patience, "some progress")
    await asyncio.wait_for(pipeline.stop(), harness.patience)
    assert pipeline.state == "stopped"
    batched = [d for batch in recorder.batches for d in batch]
    # Every message the handler saw was flushed in a (partial) batch and acked;
    # the rest is still in the source, none lost.
    assert sorted(batched) == sorted(recorder.payloads())
    assert len(pipeline.in_flight) == 0
    await wait_until(
        _remaining_is(harness, len(sent) - len(batched)), harness.patience, "the rest kept"
    )


async def test_redelivers_after_a_producer_crash(harness: ConnectorHarness) -> None:
    sent = payloads(N, "c")
    await harness.publish(sent)
    recorder = Recorder(batcher="default")
    options = harness.producer_options()
    factory = options.producer
    assert callable(factory)
    crashing = ProducerOptions(lambda: CrashingProducer(factory(), crash_after=15))  # type: ignore[arg-type,misc]
    pipeline = Pipeline(
        "contract",
        recorder,
        crashing,
        ProcessorOptions(concurrency=2, max_demand=5),
        [BatcherOptions("default", batch_size=1000, batch_timeout=0.3)],
        retry=_policy(harness, 5),
    )
    async with pipeline:
        await wait_until(lambda: recorder.payloads() == set(sent), harness.patience, "all seen")
        await wait_until(_remaining_is(harness, 0), harness.patience, "nothing unacked")
        assert pipeline.restarts == 1
    assert await harness.dead_lettered() == []


async def test_redelivers_what_a_killed_pipeline_never_acked(harness: ConnectorHarness) -> None:
    sent = payloads(20, "k")
    await harness.publish(sent)
    blocked = asyncio.Event()
    stuck = Recorder()

    async def never_finish(message: object) -> object:
        stuck.seen.append((getattr(message, "data", None), 1))
        blocked.set()
        await asyncio.Event().wait()
        return message

    first = Pipeline("contract", never_finish, harness.producer_options())
    await first.start()
    await asyncio.wait_for(blocked.wait(), harness.patience)
    await first.kill()
    survivor = Recorder()
    second = Pipeline("contract", survivor, harness.producer_options())
    async with second:
        await wait_until(lambda: survivor.payloads() == set(sent), harness.patience, "all seen")
        await wait_until(_remaining_is(harness, 0), harness.patience, "nothing unacked")


def _remaining_is(harness: ConnectorHarness, expected: int):  # type: ignore[no-untyped-def]
    async def check() -> bool:
        return await harness.remaining() == expected

    return check
