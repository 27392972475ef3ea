"""Throughput: memory broker -> 4 processors -> one batcher of 100 -> ack.

The baseline, run in the same command on the same broker: a plain asyncio
loop that takes the same messages, calls the same handler and acks in groups
of 100. Rounds alternate pipeline and baseline; the medians are compared.
Prints both rates and the ratio pipeline/baseline (target >= 0.5).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from broadway_py import (
    BatcherOptions,
    BatchInfo,
    Handler,
    Message,
    Pipeline,
    ProcessorOptions,
    ProducerOptions,
)
from broadway_py.connectors.memory import MemoryBroker, MemoryProducer, MemoryQueue
from broadway_py.telemetry import Telemetry


class Trivial(Handler):
    def handle_message(self, message: Message) -> Message:
        return message

    def handle_batch(self, batcher: str, messages: list[Message], info: BatchInfo) -> list[Message]:
        return messages


def fill(count: int) -> MemoryQueue:
    queue = MemoryBroker().queue("bench")
    queue.push_many(b"payload-%d" % i for i in range(count))
    return queue


async def pipeline_rate(count: int) -> float:
    queue = fill(count)
    pipeline = Pipeline(
        "bench",
        Trivial(),
        ProducerOptions(MemoryProducer.factory(queue)),
        ProcessorOptions(concurrency=4, max_demand=100),
        [BatcherOptions("default", batch_size=100, batch_timeout=1.0)],
    )
    started = time.perf_counter()
    async with pipeline:
        await queue.wait_idle(600)
    elapsed = time.perf_counter() - started
    assert queue.stats.acked == count
    return count / elapsed


async def baseline_rate(count: int) -> float:
    queue = fill(count)
    handler = Trivial()
    producer = MemoryProducer(queue)
    started = time.perf_counter()
    await producer.start(Telemetry("baseline"))
    done = 0
    while done < count:
        messages = await producer.fetch(100)
        handled = [handler.handle_message(m) for m in messages]
        await producer.ack(producer.lease, handled, [])
        done += len(handled)
    await producer.close()
    elapsed = time.perf_counter() - started
    assert queue.stats.acked == count
    return count / elapsed


async def main(count: int, rounds: int) -> float:
    pipeline_rates: list[float] = []
    baseline_rates: list[float] = []
    for _ in range(rounds):
        baseline_rates.append(await baseline_rate(count))
        pipeline_rates.append(await pipeline_rate(count))
    pipeline = statistics.median(pipeline_rates)
    baseline = statistics.median(baseline_rates)
    ratio = pipeline / baseline
    print(f"memory throughput ({count} messages x {rounds} rounds, medians)")
    print(f"  pipeline (4 processors, batcher of 100): {pipeline:12,.0f} msg/s")
    print(f"  baseline (plain loop, acks of 100):      {baseline:12,.0f} msg/s")
    print(f"  ratio pipeline/baseline:                 {ratio:12.2f}  (target >= 0.5)")
    return ratio


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--smoke", action="store_true", help="a few seconds, for CI")
    args = parser.parse_args()
    if args.smoke:
        args.count, args.rounds = 20_000, 1
    asyncio.run(main(args.count, args.rounds))
