"""Every partition is worked at once: a slow handler keeps one processor per partition busy.

Measured from the handler's own timestamps on a real broker: with 4
partitions, each holding a backlog, and 4 processors keyed by partition,
every partition is being handled within moments of the first message, and
on average nearly 4 handlers run at once. Before the connector read and
handed out partitions in turn, one partition was handled alone for the first
seconds and 1.5 handlers ran on average.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from broadway_py import Message, Pipeline, ProcessorOptions, ProducerOptions
from broadway_py.connectors.kafka import ordering_key, producer_factory
from tests.integration.kafka.broker import create_topics, kafka_options, publish, unique
from tests.support import payloads

pytestmark = pytest.mark.kafka

PARTITIONS = 4
PER_PARTITION = 60
HANDLER_SECONDS = 0.02


async def test_a_slow_handler_keeps_a_processor_per_partition_busy() -> None:
    topic, group = unique("parallel"), unique("parallel-group")
    await create_topics([topic], PARTITIONS)
    for partition in range(PARTITIONS):
        await publish(topic, payloads(PER_PARTITION, f"p{partition}-"), partition=partition)
    total = PARTITIONS * PER_PARTITION
    spans: list[tuple[int, float, float]] = []
    done = asyncio.Event()

    async def slow(message: Message) -> Message:
        started = time.perf_counter()
        await asyncio.sleep(HANDLER_SECONDS)  # sleep-ok: the slow handler under test
        spans.append((message.metadata["partition"], started, time.perf_counter()))
        if len(spans) >= total:
            done.set()
        return message

    options = kafka_options(topic, group)
    pipeline = Pipeline(
        "parallel",
        slow,
        ProducerOptions(producer_factory(options, demand=4 * 100)),
        ProcessorOptions(concurrency=4, max_demand=100, partition_by=ordering_key(options)),
    )
    async with pipeline:
        await asyncio.wait_for(done.wait(), 60)
    first = min(start for _, start, _ in spans)
    last = max(end for _, _, end in spans)
    starts = {p: min(s for q, s, _ in spans if q == p) - first for p in range(PARTITIONS)}
    busy = sum(end - start for _, start, end in spans) / (last - first)
    ideal = total * HANDLER_SECONDS / PARTITIONS
    print(
        f"first call per partition {starts}; {busy:.2f} handlers busy on average; "
        f"{last - first:.2f}s against {ideal:.2f}s ideal"
    )
    # Every partition starts within a few handler calls of the first one.
    assert max(starts.values()) < 10 * HANDLER_SECONDS, starts
    assert busy >= 0.8 * PARTITIONS, busy
