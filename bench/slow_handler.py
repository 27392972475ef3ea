"""A slow handler on Kafka partitions against the same on RabbitMQ.

The same messages (64 B, ``--messages`` of them) on a 4-partition Kafka topic
and on one RabbitMQ queue, each read by a pipeline as its docs configure it
(4 processors x 100 demand; on Kafka, partitioned by topic and partition), with
an async handler that waits ``--handler-ms`` per message. With every
partition worked at once, Kafka keeps its 4 processors as busy as RabbitMQ
keeps its own, so the two take about as long.

Prints each side's wall time, the average number of handlers running at once
(from the handler's own timestamps) and the ratio Kafka rate / RabbitMQ rate
(target >= 0.9). Rounds alternate the two; medians are compared.

Needs the brokers from scripts/brokers/ (BROADWAY_KAFKA_BOOTSTRAP,
BROADWAY_RABBITMQ_URL). ``--smoke``: a few hundred messages, one round.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Hashable

import aio_pika

from bench.kafka_throughput import BOOTSTRAP, GROUP_SETTINGS
from bench.kafka_throughput import fill as fill_topic
from bench.rabbitmq_throughput import DEFAULT_URL
from bench.rabbitmq_throughput import fill as fill_queue
from broadway_py import Message, Pipeline, ProcessorOptions, ProducerOptions
from broadway_py.connectors import kafka, rabbitmq
from broadway_py.producer import ProducerFactory

TARGET = 0.9
PROCESSORS = 4
MAX_DEMAND = 100
PARTITIONS = 4


def busy_average(spans: list[tuple[float, float]]) -> float:
    """Handlers running at once, averaged over the time from the first start to the last end."""
    if not spans:
        return 0.0
    first = min(start for start, _ in spans)
    last = max(end for _, end in spans)
    return sum(end - start for start, end in spans) / max(last - first, 1e-9)


async def run(
    factory: ProducerFactory,
    partition_by: Callable[[Message], Hashable] | None,
    count: int,
    delay: float,
) -> tuple[float, float]:
    """Seconds from the first handler call to the last, and the average handlers at once."""
    spans: list[tuple[float, float]] = []
    done = asyncio.Event()

    async def slow(message: Message) -> Message:
        started = time.perf_counter()
        await asyncio.sleep(delay)  # sleep-ok: the slow handler being measured
        spans.append((started, time.perf_counter()))
        if len(spans) >= count:
            done.set()
        return message

    pipeline = Pipeline(
        "bench",
        slow,
        ProducerOptions(factory),
        ProcessorOptions(concurrency=PROCESSORS, max_demand=MAX_DEMAND, partition_by=partition_by),
    )
    async with pipeline:
        await asyncio.wait_for(done.wait(), 600)
    first = min(start for start, _ in spans)
    last = max(end for _, end in spans)
    return last - first, busy_average(spans)


async def kafka_run(topic: str, count: int, delay: float) -> tuple[float, float]:
    options = kafka.Options.model_validate(
        {
            "bootstrap_servers": BOOTSTRAP,
            "topics": [topic],
            "group_id": f"bench-slow-{uuid.uuid4().hex[:8]}",
            "retry_topic": f"{topic}.retry",
            "dead_letter_topic": f"{topic}.dlq",
            **GROUP_SETTINGS,
        }
    )
    factory = kafka.producer_factory(options, demand=PROCESSORS * MAX_DEMAND)
    return await run(factory, kafka.ordering_key(options), count, delay)


async def rabbitmq_run(url: str, queue: str, count: int, delay: float) -> tuple[float, float]:
    connection = await aio_pika.connect(url)
    try:
        await fill_queue(connection, queue, count, 64)
    finally:
        await connection.close()
    options = rabbitmq.Options.model_validate({"url": url, "queue": queue})
    factory = rabbitmq.producer_factory(options, demand=PROCESSORS * MAX_DEMAND)
    return await run(factory, rabbitmq.ordering_key(options), count, delay)


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--handler-ms", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--url", default=os.environ.get("BROADWAY_RABBITMQ_URL", DEFAULT_URL))
    parser.add_argument("--smoke", action="store_true", help="a few hundred messages, one round")
    args = parser.parse_args(argv)
    if args.smoke:
        args.messages, args.rounds = 400, 1
    delay = args.handler_ms / 1000
    kafka_runs: list[tuple[float, float]] = []
    rabbit_runs: list[tuple[float, float]] = []
    connection = await aio_pika.connect(args.url)
    channel = await connection.channel()
    queue = f"bench.slow.{uuid.uuid4().hex[:8]}"
    await channel.declare_queue(queue, durable=True)
    try:
        for _ in range(args.rounds):
            topic = f"bench-slow-{uuid.uuid4().hex[:8]}"
            await fill_topic(topic, args.messages, 64, PARTITIONS)
            kafka_runs.append(await kafka_run(topic, args.messages, delay))
            rabbit_runs.append(await rabbitmq_run(args.url, queue, args.messages, delay))
    finally:
        for name in (queue, f"{queue}.dlq"):
            await channel.queue_delete(name)
        await connection.close()
    kafka_time = statistics.median(t for t, _ in kafka_runs)
    rabbit_time = statistics.median(t for t, _ in rabbit_runs)
    ideal = args.messages * delay / PROCESSORS
    print(
        f"slow handler ({args.messages} messages, {args.handler_ms:g} ms each, "
        f"{PROCESSORS} processors x {MAX_DEMAND}; Kafka {PARTITIONS} partitions; "
        f"{args.rounds} rounds; {ideal:.1f}s if every processor is always busy)"
    )
    for name, runs, median in (
        ("kafka", kafka_runs, kafka_time),
        ("rabbitmq", rabbit_runs, rabbit_time),
    ):
        rounds = ", ".join(f"{t:.1f}s busy {b:.1f}" for t, b in runs)
        print(f"  {name:<8} : {median:6.2f}s   (rounds: {rounds})")
    print(
        f"  ratio    : {rabbit_time / kafka_time:.2f} kafka rate / rabbitmq rate "
        f"(target >= {TARGET})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
