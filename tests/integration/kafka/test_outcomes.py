"""Outcomes against the real broker: exact counts, order, retry holds, drain, ordered mode."""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict
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
    ShutdownOptions,
)
from broadway_py.connectors.kafka import Options, ordering_key, producer_factory
from broadway_py.connectors.kafka import headers as h
from broadway_py.errors import PoisonMessageError
from broadway_py.telemetry import BacklogReported, Event, MessagesAcked, Telemetry
from tests.integration.kafka.broker import (
    GroupProbe,
    TopicProbe,
    create_topics,
    kafka_options,
    publish,
    unique,
)
from tests.support import payloads, wait_until

pytestmark = pytest.mark.kafka

PARTITIONS = 3


class Counts:
    def __init__(self, telemetry: Telemetry) -> None:
        self.acked: Counter[str] = Counter()
        self.backlog: dict[str, int] = {}
        telemetry.subscribe(self.on_event)

    def on_event(self, event: Event) -> None:
        if isinstance(event, MessagesAcked):
            self.acked["successful"] += event.successful
            self.acked["retried"] += event.retried
            self.acked["dead_lettered"] += event.dead_lettered
            self.acked["discarded"] += event.discarded
        elif isinstance(event, BacklogReported):
            self.backlog[event.source] = event.messages


class Injected(Handler):
    """i % 10 == 0: always fails; == 1: fails its first attempt; == 2: a poison message."""

    def __init__(self) -> None:
        self.handled: list[tuple[str, int, float, str, int, int]] = []
        self.batched: list[tuple[str, int, int]] = []

    async def handle_message(self, message: Message) -> Message:
        meta = message.metadata
        index = int(message.data.split(b"-")[1])
        self.handled.append(
            (
                message.data.decode(),
                message.attempt,
                time.monotonic(),
                meta["topic"],
                meta["partition"],
                meta["offset"],
            )
        )
        if index % 10 == 0:
            raise RuntimeError(f"always fails {index}")
        if index % 10 == 1 and message.attempt == 1:
            raise RuntimeError(f"fails once {index}")
        if index % 10 == 2:
            raise PoisonMessageError(f"poison {index}")
        return message.put_batcher("default")

    def handle_batch(self, batcher: str, messages: list[Message], info: BatchInfo) -> list[Message]:
        for m in messages:
            self.batched.append(
                (m.metadata["topic"], m.metadata["partition"], m.metadata["offset"])
            )
        return messages


async def remaining(group: str, topics: list[str]) -> int:
    ends_probe, group_probe = TopicProbe(topics), GroupProbe(group)
    await ends_probe.start()
    await group_probe.start()
    try:
        ends = await ends_probe.end_offsets()
        committed = await group_probe.committed(list(ends))
        return sum(end - committed[tp] for tp, end in ends.items())
    finally:
        await ends_probe.stop()
        await group_probe.stop()


def pipeline_for(
    options: Options, handler: Any, telemetry: Telemetry, retry: RetryPolicy, **extra: Any
) -> Pipeline:
    key = ordering_key(options)
    return Pipeline(
        "kafka-test",
        handler,
        ProducerOptions(producer_factory(options, demand=40)),
        ProcessorOptions(concurrency=3, max_demand=10, partition_by=key),
        [
            BatcherOptions(
                "default", batch_size=7, batch_timeout=0.1, concurrency=2, partition_by=key
            )
        ],
        retry=retry,
        telemetry=telemetry,
        **extra,
    )


async def test_injected_failures_end_with_exact_outcome_counts() -> None:
    topic, group = unique("outcomes"), unique("outcomes-group")
    retry_topic, dead_topic = f"{topic}.retry", f"{topic}.dlq"
    await create_topics([topic, retry_topic, dead_topic], PARTITIONS)
    sent = payloads(300, "o")
    await publish(topic, sent, keys=[str(i).encode() for i in range(len(sent))])
    options = kafka_options(topic, group, retry_topic=retry_topic, dead_letter_topic=dead_topic)
    telemetry = Telemetry("kafka-test")
    counts = Counts(telemetry)
    handler = Injected()
    delay = 0.3
    policy = RetryPolicy(max_attempts=3, min_delay=delay, max_delay=delay, jitter=0)
    always, once, poison = 30, 30, 30
    expected = {
        "successful": len(sent) - always - poison,
        "retried": always * 2 + once,
        "dead_lettered": always + poison,
        "discarded": 0,
    }
    async with pipeline_for(options, handler, telemetry, policy):
        await wait_until(lambda: counts.acked == Counter(expected), 60, f"outcomes {expected}")
        await wait_until(
            lambda: counts.backlog.get(topic) == 0, 10, "the topic's lag reported as 0"
        )
    assert counts.acked == Counter(expected)
    assert await remaining(group, [topic, retry_topic]) == 0

    # Every message was handled as often as its failures say, with attempts 1, 2, 3...
    attempts: dict[str, list[int]] = defaultdict(list)
    for data, attempt, *_ in handler.handled:
        attempts[data].append(attempt)
    for i, payload in enumerate(p.decode() for p in sent):
        want = {0: [1, 2, 3], 1: [1, 2], 2: [1]}.get(i % 10, [1])
        assert sorted(attempts[payload]) == want, payload
    # A retry waited out its delay in the retry topic before it was handled again.
    first_seen: dict[str, float] = {}
    for data, attempt, at, *_ in sorted(handler.handled, key=lambda r: r[2]):
        if attempt == 1:
            first_seen[data] = at
        elif attempt == 2:
            assert at - first_seen[data] >= delay - 0.05, data
    # Retries came from the retry topic; the originals from the source topic.
    assert {t for _, a, _, t, *_ in handler.handled if a > 1} == {retry_topic}
    assert {t for _, a, _, t, *_ in handler.handled if a == 1} == {topic}

    # Per-partition order held end to end: in handle_message and in handle_batch.
    for records in (
        [(t, p, o) for _, a, _, t, p, o in handler.handled if t == topic],
        [r for r in handler.batched if r[0] == topic],
    ):
        last: dict[int, int] = {}
        for _, partition, offset in records:
            assert offset > last.get(partition, -1)
            last[partition] = offset

    # The dead letters, with the reason and the attempt they failed at.
    probe = TopicProbe([dead_topic])
    await probe.start()
    try:
        await probe.end_offsets()
        letters = probe.records[dead_topic]
    finally:
        await probe.stop()
    by_payload = {r.value.decode(): r for r in letters}
    assert len(letters) == always + poison
    for i in range(0, len(sent), 10):
        record = by_payload[f"o-{i:05d}"]
        assert h.find(record.headers, h.REASON) == f"RuntimeError: always fails {i}".encode()
        assert h.read_attempt(record.headers) == 3
        assert h.find(record.headers, h.ORIGINAL_TOPIC) == topic.encode()
        assert record.key == str(i).encode()
    for i in range(2, len(sent), 10):
        record = by_payload[f"o-{i:05d}"]
        assert h.read_attempt(record.headers) == 1
        assert b"poison" in (h.find(record.headers, h.REASON) or b"")


async def test_a_drain_commits_everything_processed_and_nothing_else() -> None:
    topic, group = unique("drain"), unique("drain-group")
    await create_topics([topic], PARTITIONS)
    sent = payloads(300, "d")
    await publish(topic, sent, keys=[str(i).encode() for i in range(len(sent))])
    options = kafka_options(topic, group, commit_interval=30.0)  # only the drain commits
    handled: list[tuple[int, int]] = []

    async def slow(message: Message) -> Message:
        await asyncio.sleep(0.005)  # sleep-ok: simulated work in a slow handler
        handled.append((message.metadata["partition"], message.metadata["offset"]))
        return message

    pipeline = Pipeline(
        "kafka-drain",
        slow,
        ProducerOptions(producer_factory(options, demand=20)),
        ProcessorOptions(concurrency=3, max_demand=5, partition_by=ordering_key(options)),
        shutdown=ShutdownOptions(drain_timeout=20),
    )
    await pipeline.start()
    await wait_until(lambda: len(handled) >= 60, 30, "some messages handled")
    await pipeline.stop()
    assert pipeline.state == "stopped"
    assert len(handled) < len(sent), "the drain started before the topic was consumed"
    # What was handled is a prefix of each partition, and exactly that was committed.
    per_partition: dict[int, list[int]] = defaultdict(list)
    for partition, offset in handled:
        per_partition[partition].append(offset)
    probe = GroupProbe(group)
    await probe.start()
    try:
        from aiokafka import TopicPartition

        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        committed = await probe.committed(tps)
    finally:
        await probe.stop()
    for tp in tps:
        offsets = per_partition.get(tp.partition, [])
        assert offsets == list(range(len(offsets)))
        assert committed[tp] == len(offsets)
    assert await remaining(group, [topic]) == len(sent) - len(handled)


async def test_ordered_mode_retries_in_place_and_keeps_partition_order() -> None:
    topic, group = unique("ordered"), unique("ordered-group")
    dead_topic = f"{topic}.dlq"
    await create_topics([topic, dead_topic], PARTITIONS)
    sent = payloads(120, "r")
    await publish(topic, sent, keys=[str(i % 12).encode() for i in range(len(sent))])
    options = kafka_options(topic, group, ordered=True, dead_letter_topic=dead_topic)
    successes: list[tuple[int, int, float]] = []
    attempts: dict[int, list[int]] = defaultdict(list)

    async def handle(message: Message) -> Message:
        index = int(message.data.split(b"-")[1])
        attempts[index].append(message.attempt)
        if index % 9 == 4 and message.attempt < 3:
            raise RuntimeError(f"fails twice {index}")
        successes.append(
            (message.metadata["partition"], message.metadata["offset"], time.monotonic())
        )
        return message

    telemetry = Telemetry("kafka-ordered")
    counts = Counts(telemetry)
    policy = RetryPolicy(max_attempts=3, min_delay=0.2, max_delay=0.2, jitter=0)
    pipeline = Pipeline(
        "kafka-ordered",
        handle,
        ProducerOptions(producer_factory(options, demand=20)),
        ProcessorOptions(concurrency=2, max_demand=5, partition_by=ordering_key(options)),
        retry=policy,
        telemetry=telemetry,
    )
    async with pipeline:
        await wait_until(
            lambda: len({i for i, a in attempts.items() if _succeeded(i, a)}) == len(sent),
            60,
            "every message to succeed",
        )
    assert counts.acked["dead_lettered"] == 0
    for i in range(len(sent)):
        # A message may be handled again at the same attempt when its partition is read
        # again for an earlier message's retry; its own attempts only go up.
        seen = attempts[i]
        assert seen == sorted(seen), (i, seen)
        assert set(seen) == ({1, 2, 3} if i % 9 == 4 else {1}), (i, seen)
    # The last successful handling of each offset happened in offset order, per partition:
    # after a retry in place, the partition was read again from the failed message.
    last_success: dict[tuple[int, int], float] = {}
    for partition, offset, at in successes:
        last_success[(partition, offset)] = at
    for partition in range(PARTITIONS):
        offsets = sorted(o for p, o in last_success if p == partition)
        times = [last_success[(partition, o)] for o in offsets]
        assert times == sorted(times), partition
    assert await remaining(group, [topic]) == 0


def _succeeded(index: int, attempts: list[int]) -> bool:
    return 3 in attempts if index % 9 == 4 else bool(attempts)
