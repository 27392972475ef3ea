"""CPU-bound handlers: ``executor: process`` against ``executor: loop``.

A synchronous handler doing about 200 µs of pure-Python work per message
(calibrated at the start, printed) on the memory broker, acked by the
processors (no batcher). The baseline, run in the same command on the same
messages: the same pipeline with ``executor: loop``, where the work holds the
event loop and one core. Rounds alternate the two; the medians are compared.
Twice as many processors as cores: the pool has one worker process per core
(``pool_size``) and a chunk waiting for each. Its startup (spawning the
workers, loading the handler) is timed apart: the rates are from a started
pipeline to its last ack.

Prints both rates and the ratio process/loop (target >= 1.7 on 2 cores; it
reads lower while other work shares the machine).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

from broadway_py import Handler, Message, Pipeline, ProcessorOptions, ProducerOptions
from broadway_py.connectors.memory import MemoryBroker, MemoryProducer, MemoryQueue
from broadway_py.options import Executor
from broadway_py.topology.process_pool import pool_size

TARGET_SECONDS = 200e-6


def crunch(seed: int, rounds: int) -> int:
    """Pure-Python work: no I/O, no C loop that would let go of the GIL."""
    total = seed
    for i in range(rounds):
        total = (total * 31 + i) % 1_000_003
    return total


def calibrate() -> int:
    """The ``crunch`` rounds that take about TARGET_SECONDS here."""
    rounds = 1_000
    while True:
        started = time.perf_counter()
        for seed in range(20):
            crunch(seed, rounds)
        took = (time.perf_counter() - started) / 20
        if took > TARGET_SECONDS / 4:
            return max(1, round(rounds * TARGET_SECONDS / took))
        rounds *= 2


class Crunch(Handler):
    def __init__(self, rounds: int) -> None:
        self.rounds = rounds

    def handle_message(self, message: Message) -> Message:
        crunch(len(message.data), self.rounds)
        return message


def fill(count: int) -> MemoryQueue:
    queue = MemoryBroker().queue("bench")
    queue.push_many(b"payload-%d" % i for i in range(count))
    return queue


async def rate(executor: Executor, count: int, rounds: int, workers: int) -> tuple[float, float]:
    """Messages a second from a started pipeline to its last ack, and the startup time."""
    queue = fill(count)
    pipeline = Pipeline(
        "bench",
        Crunch(rounds),
        ProducerOptions(MemoryProducer.factory(queue)),
        ProcessorOptions(concurrency=workers, max_demand=50, executor=executor),
    )
    began = time.perf_counter()
    await pipeline.start()
    started = time.perf_counter()
    try:
        await queue.wait_idle(600)
        elapsed = time.perf_counter() - started
    finally:
        await pipeline.stop()
    assert queue.stats.acked == count
    return count / elapsed, started - began


async def main(count: int, repeats: int) -> float:
    rounds = calibrate()
    started = time.perf_counter()
    for seed in range(200):
        crunch(seed, rounds)
    per_message = (time.perf_counter() - started) / 200
    workers = 2 * (os.cpu_count() or 1)
    processes = pool_size(workers)
    process_rates: list[float] = []
    loop_rates: list[float] = []
    startups: list[float] = []
    for _ in range(repeats):
        loop_rates.append((await rate("loop", count, rounds, workers))[0])
        measured, startup = await rate("process", count, rounds, workers)
        process_rates.append(measured)
        startups.append(startup)
    process = statistics.median(process_rates)
    loop = statistics.median(loop_rates)
    ratio = process / loop
    print(
        f"process executor ({count} messages x {repeats} rounds, medians; "
        f"handler {per_message * 1e6:.0f} us/message, {workers} processors)"
    )
    print(f"  executor: process ({processes} worker processes): {process:10,.0f} msg/s")
    print(f"  executor: loop (baseline):                {loop:10,.0f} msg/s")
    print(f"  pool startup:                             {statistics.median(startups):10.2f} s")
    print(f"  ratio process/loop:                       {ratio:10.2f}  (target >= 1.7)")
    return ratio


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="a few seconds, for CI")
    args = parser.parse_args()
    if args.smoke:
        args.count, args.rounds = 2_000, 1
    asyncio.run(main(args.count, args.rounds))
