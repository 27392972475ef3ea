"""uvloop against asyncio's own loop: the same pipeline, on each loop in turn, in one command.

Each round runs the RabbitMQ pipeline of bench/rabbitmq_throughput.py (64 B,
prefetch 100) and the Kafka pipeline of bench/kafka_throughput.py (100 B, 4
partitions, the default 4 processors x 100) once on asyncio's loop and once
on uvloop's (``broadway-py run --loop asyncio | uvloop``), alternating; the
medians are compared. Prints each rate and the ratio uvloop / asyncio per
broker: above 1 means uvloop is faster, which is why ``--loop auto`` (the
default) uses it when installed.

Needs the brokers from scripts/brokers/ and uvloop (the ``fast`` extra; the
dev group installs it). ``--smoke``: small runs, one round.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

import aio_pika

from bench import kafka_throughput, rabbitmq_throughput
from broadway_py.service.event_loop import loop_factory
from broadway_py.service.gc_policy import apply as apply_gc_policy

LOOPS = ("asyncio", "uvloop")


def on_loop(loop: str, run: Callable[[], Coroutine[Any, Any, float]]) -> float:
    with asyncio.Runner(loop_factory=loop_factory(loop)) as runner:
        return runner.run(run())


def rabbitmq_rate(url: str, queue: str, count: int) -> Callable[[], Coroutine[Any, Any, float]]:
    async def run() -> float:
        connection = await aio_pika.connect(url)
        try:
            await rabbitmq_throughput.fill(connection, queue, count, 64)
        finally:
            await connection.close()
        return count / await rabbitmq_throughput.pipeline_run(url, queue, count, 100, False)

    return run


def kafka_rate(topic: str, count: int) -> Callable[[], Coroutine[Any, Any, float]]:
    async def run() -> float:
        rate = await kafka_throughput.pipeline_rate(topic, count, 4, 100, False)
        return rate.wall

    return run


async def setup(url: str, queue: str, topic: str, count: int) -> None:
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        await channel.declare_queue(queue, durable=False)
    finally:
        await connection.close()
    await kafka_throughput.fill(topic, count, 100, 4)


async def cleanup(url: str, queue: str) -> None:
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        for name in (queue, f"{queue}.dlq"):
            await channel.queue_delete(name)
    finally:
        await connection.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--url", default=os.environ.get("BROADWAY_RABBITMQ_URL", rabbitmq_throughput.DEFAULT_URL)
    )
    parser.add_argument("--rabbitmq-messages", type=int, default=20_000)
    parser.add_argument("--kafka-messages", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="small runs, one round")
    args = parser.parse_args(argv)
    args.url = (
        rabbitmq_throughput.parse([]).url if args.url == parser.get_default("url") else args.url
    )
    if args.smoke:
        args.rabbitmq_messages, args.kafka_messages, args.rounds = 2_000, 5_000, 1
    if loop_factory("auto") is None:
        print("uvloop is not installed (pip install 'broadway-py[fast]'): nothing to compare")
        return 0
    apply_gc_policy("freeze")  # as the service runs
    queue = f"bench.loops.{uuid.uuid4().hex[:8]}"
    topic = f"bench-loops-{uuid.uuid4().hex[:8]}"
    asyncio.run(setup(args.url, queue, topic, args.kafka_messages))
    rates: dict[tuple[str, str], list[float]] = {}
    try:
        for _ in range(args.rounds):
            for loop in LOOPS:
                run = rabbitmq_rate(args.url, queue, args.rabbitmq_messages)
                rates.setdefault(("rabbitmq", loop), []).append(on_loop(loop, run))
                run = kafka_rate(topic, args.kafka_messages)
                rates.setdefault(("kafka", loop), []).append(on_loop(loop, run))
    finally:
        asyncio.run(cleanup(args.url, queue))
    print(
        f"event loops ({args.rounds} rounds, medians; RabbitMQ {args.rabbitmq_messages} "
        f"messages, Kafka {args.kafka_messages} on 4 partitions)"
    )
    for broker in ("rabbitmq", "kafka"):
        slow = statistics.median(rates[(broker, "asyncio")])
        fast = statistics.median(rates[(broker, "uvloop")])
        print(
            f"  {broker:<8}: asyncio {slow:>10,.0f} msg/s, uvloop {fast:>10,.0f} msg/s, "
            f"ratio uvloop/asyncio {fast / slow:.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
