"""``partition_by: key`` on a real broker: one hot partition, every processor busy, keys in order.

One partition holds the records of 8 keys, interleaved; the handler is slow
(10 ms, async) and records, per key, the sequence numbers it handles and when.
Routed by the partition, one processor does all the work; routed by the record
key, 4 processors share it while each key is handled in the order it was
published; the group's committed offset reaches the end of the partition
either way (commits stay contiguous although records finish out of order).

The 8 keys are chosen so that they spread 2 per processor: which processor a
key reaches depends on its hash (``hash()`` of bytes, salted per process), and
with 8 keys drawn at random one processor often gets 3 or 4 of them; this test
measures the parallelism, not the luck of the draw.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable

import pytest

from broadway_py import Message, NoopAcknowledger, Pipeline, ProcessorOptions, ProducerOptions
from broadway_py.connectors.kafka import key_ordering, ordering_key, producer_factory
from tests.integration.kafka.broker import (
    GroupProbe,
    TopicProbe,
    create_topics,
    kafka_options,
    publish,
    unique,
)
from tests.support import wait_until

pytestmark = pytest.mark.kafka

KEYS = 8
PER_KEY = 40
PROCESSORS = 4
HANDLER_SECONDS = 0.01


def spread_keys(count: int, processors: int) -> list[bytes]:
    """``count`` record keys that reach the ``processors`` evenly (see the module)."""
    route = key_ordering(kafka_options("any", "any"))
    per: dict[int, list[bytes]] = defaultdict(list)
    for index in range(100 * count):
        key = f"customer-{index}".encode()
        message = Message(
            b"", NoopAcknowledger(), metadata={"topic": "t", "partition": 0, "key": key}
        )
        # The key's route does not depend on the topic's name: only its processor does.
        target = per[hash(route(message)) % processors]
        if len(target) < count // processors:
            target.append(key)
    keys = [key for chosen in per.values() for key in chosen]
    assert len(keys) == count, per
    return keys


class Run:
    """One pipeline run over the topic: what the handler saw, per key, and when."""

    def __init__(self) -> None:
        self.sequences: dict[bytes, list[int]] = defaultdict(list)
        self.spans: list[tuple[float, float]] = []
        self.done = asyncio.Event()

    async def handle(self, message: Message) -> Message:
        started = time.perf_counter()
        await asyncio.sleep(HANDLER_SECONDS)  # sleep-ok: the slow handler under test
        key, _, sequence = bytes(message.data).partition(b"/")
        assert message.metadata["key"] == key
        self.sequences[key].append(int(sequence))
        self.spans.append((started, time.perf_counter()))
        if len(self.spans) >= KEYS * PER_KEY:
            self.done.set()
        return message

    def seconds(self) -> float:
        return max(end for _, end in self.spans) - min(start for start, _ in self.spans)

    def busy(self) -> float:
        """Handlers running at once, on average."""
        return sum(end - start for start, end in self.spans) / self.seconds()


async def run_over(
    topic: str, processors: int, keyed: Callable[..., Callable[[Message], Hashable] | None]
) -> Run:
    group = unique("keyed-group")
    options = kafka_options(topic, group)
    run = Run()
    pipeline = Pipeline(
        f"keyed-{processors}",
        run.handle,
        ProducerOptions(producer_factory(options, demand=processors * 50)),
        ProcessorOptions(concurrency=processors, max_demand=50, partition_by=keyed(options)),
    )
    async with pipeline:
        await asyncio.wait_for(run.done.wait(), 60)
        await committed_to_the_end(topic, group)
    return run


async def committed_to_the_end(topic: str, group: str) -> None:
    topics, probe = TopicProbe([topic]), GroupProbe(group)
    await topics.start()
    await probe.start()
    try:
        ends = await topics.end_offsets()

        async def reached() -> bool:
            committed = await probe.committed(list(ends))
            return all(committed[tp] == end for tp, end in ends.items())

        await wait_until(reached, 10, f"{group} committed to the end of {topic}", 0.1)
    finally:
        await probe.stop()
        await topics.stop()


async def test_one_hot_partition_keeps_every_processor_busy_and_each_key_in_order() -> None:
    topic = unique("keyed")
    await create_topics([topic], 1)
    keys = spread_keys(KEYS, PROCESSORS)
    records = [(key, sequence) for sequence in range(PER_KEY) for key in keys]
    await publish(
        topic,
        [b"%s/%d" % (key, sequence) for key, sequence in records],
        keys=[key for key, _ in records],
        partition=0,
    )

    one = await run_over(topic, 1, ordering_key)
    by_partition = await run_over(topic, PROCESSORS, ordering_key)
    by_key = await run_over(topic, PROCESSORS, key_ordering)

    for run in (one, by_partition, by_key):
        # Every record handled once, and each key in the order it was published.
        assert Counter(len(s) for s in run.sequences.values()) == {PER_KEY: KEYS}
        for key, sequence in run.sequences.items():
            assert sequence == list(range(PER_KEY)), (key, sequence)
    speedup = one.seconds() / by_key.seconds()
    print(
        f"1 processor: {one.seconds():.2f}s, {one.busy():.2f} busy; "
        f"{PROCESSORS} by partition: {by_partition.seconds():.2f}s, "
        f"{by_partition.busy():.2f} busy; {PROCESSORS} by key: {by_key.seconds():.2f}s, "
        f"{by_key.busy():.2f} busy; speedup by key {speedup:.2f}x"
    )
    # Routed by partition, the one partition is one processor's work.
    assert by_partition.busy() < 1.3, by_partition.busy()
    assert speedup >= 2.5, speedup
