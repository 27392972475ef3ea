"""Typed bodies: memory broker -> decode into a pydantic model -> 4 processors -> ack.

The pipeline decodes each ~1 KB order with ``Decode("json", model=Order)``
(``Order.model_validate_json`` on the message's bytes) before a trivial handler.
The baseline, run in the same command on the same payloads: a plain loop of
``Order.model_validate_json`` over them, the decode alone. Rounds alternate
baseline and pipeline; the medians are compared. Prints both rates and the
ratio pipeline/baseline: the share of pure decoding speed left once the
pipeline moves, decodes, handles and acks every message (target >= 0.2).
Most of the gap is the cyclic garbage collector: each Order is ~17 tracked
objects, made while the pipeline (and the memory queue's pending entries) keep
many more alive; measured with ``gc.disable()`` the ratio about doubles.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from bench.payloads import orders as payloads
from broadway_py import Decode, Message, Pipeline, ProcessorOptions, ProducerOptions
from broadway_py.connectors.memory import MemoryBroker, MemoryProducer, MemoryQueue
from examples.orders_model import Order

TARGET = 0.2


def handle(message: Message) -> Message:
    return message


def fill(bodies: list[bytes]) -> MemoryQueue:
    queue = MemoryBroker().queue("bench")
    queue.push_many(bodies)
    return queue


async def pipeline_rate(bodies: list[bytes]) -> float:
    queue = fill(bodies)
    pipeline = Pipeline(
        "bench",
        handle,
        ProducerOptions(MemoryProducer.factory(queue), decode=Decode("json", model=Order)),
        ProcessorOptions(concurrency=4, max_demand=100),
    )
    started = time.perf_counter()
    async with pipeline:
        await queue.wait_idle(600)
    elapsed = time.perf_counter() - started
    assert queue.stats.acked == len(bodies), "every order decodes"
    return len(bodies) / elapsed


def baseline_rate(bodies: list[bytes]) -> float:
    validate = Order.model_validate_json
    decoded = 0
    started = time.perf_counter()
    for body in bodies:  # each Order dropped at once, as the pipeline's are once acked
        validate(body)
        decoded += 1
    elapsed = time.perf_counter() - started
    assert decoded == len(bodies)
    return decoded / elapsed


async def main(count: int, rounds: int) -> float:
    bodies = payloads(count)
    size = statistics.mean(len(body) for body in bodies)
    pipeline_rates: list[float] = []
    baseline_rates: list[float] = []
    for _ in range(rounds):
        baseline_rates.append(baseline_rate(bodies))
        pipeline_rates.append(await pipeline_rate(bodies))
    pipeline = statistics.median(pipeline_rates)
    baseline = statistics.median(baseline_rates)
    ratio = pipeline / baseline
    print(f"model decode ({count} orders of ~{size:,.0f} bytes x {rounds} rounds, medians)")
    print(f"  pipeline (decode into Order, 4 processors): {pipeline:12,.0f} msg/s")
    print(f"  baseline (Order.model_validate_json loop):  {baseline:12,.0f} msg/s")
    print(f"  ratio pipeline/baseline:                    {ratio:12.2f}  (target >= {TARGET})")
    return ratio


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--smoke", action="store_true", help="a few seconds, for CI")
    args = parser.parse_args()
    if args.smoke:
        args.count, args.rounds = 10_000, 1
    asyncio.run(main(args.count, args.rounds))
