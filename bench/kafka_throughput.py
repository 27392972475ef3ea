"""Throughput: Kafka topic -> pipeline (trivial handler) -> ack, against a raw aiokafka loop.

Both read the same topic, each round with a fresh consumer group, from the
earliest offset:

- baseline: one AIOKafkaConsumer, ``getmany(max_records=500)``, then an
  explicit ``commit({tp: offset + 1})`` of what the batch held, in a loop;
- pipeline: the Kafka connector feeding processors partitioned by topic and
  partition (the defaults a pipeline file gets: 4 processors x 100 demand), a
  handler that returns the message, acks marking offsets done and commits
  every second; no telemetry subscriber (as without metrics).

``--json``: the payloads are ~1 KB JSON orders; the pipeline decodes them
(``decode: json``) and the raw loop calls ``json.loads`` on each value.

Each rate counts from the first message received (the group join is left
out) to the last one acknowledged (baseline: committed). Rounds alternate
pipeline and baseline; medians are compared. Prints both rates and the ratio
pipeline / baseline (target >= 0.9), and the CPU seconds each took per
100,000 messages (steadier than wall time on a shared machine).

Needs the broker from scripts/brokers/kafka.sh (BROADWAY_KAFKA_BOOTSTRAP,
default 127.0.0.1:39092). ``--smoke``: a few thousand messages, one round.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # type: ignore[import-untyped]
from aiokafka.admin import AIOKafkaAdminClient, NewTopic  # type: ignore[import-untyped]

from bench.loops import run_main
from bench.payloads import orders, per_100k
from broadway_py import Decode, Message, Pipeline, ProcessorOptions, ProducerOptions
from broadway_py.connectors.kafka import Options, ordering_key, producer_factory
from broadway_py.service.gc_policy import POLICIES
from broadway_py.service.gc_policy import apply as apply_gc_policy

BOOTSTRAP = os.environ.get("BROADWAY_KAFKA_BOOTSTRAP", "127.0.0.1:39092")
GROUP_SETTINGS: dict[str, Any] = {
    # Fast joins on the test broker; the measured part starts after the join.
    "session_timeout_ms": 3000,
    "heartbeat_interval_ms": 500,
    "rebalance_timeout_ms": 3000,
    "revoke_timeout": 1.0,
}


@dataclass(frozen=True)
class Rate:
    wall: float  # messages per second of elapsed time
    cpu: float  # messages per second of this process's CPU time


async def fill(
    topic: str, count: int, size: int, partitions: int, bodies: list[bytes] | None = None
) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(
        bootstrap_servers=BOOTSTRAP, linger_ms=20, max_batch_size=1 << 20, acks=1
    )
    await producer.start()
    try:
        pad = b"x" * max(size - 12, 0)
        pending = []
        for i in range(count):
            value = bodies[i % len(bodies)] if bodies else b"%012d%s" % (i, pad)
            pending.append(await producer.send(topic, value))
            if len(pending) >= 20000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def baseline_rate(topic: str, count: int, decode: bool) -> Rate:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=BOOTSTRAP,
        group_id=f"bench-raw-{uuid.uuid4().hex[:8]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **{k: v for k, v in GROUP_SETTINGS.items() if k != "revoke_timeout"},
    )
    await consumer.start()
    try:
        seen = 0
        started = 0.0
        while seen < count:
            batches = await consumer.getmany(timeout_ms=1000, max_records=500)
            if not batches:
                continue
            if not started:
                started = time.perf_counter()
                cpu = time.process_time()
            offsets = {}
            for tp, records in batches.items():
                for record in records:
                    handle(json.loads(record.value) if decode else record)
                seen += len(records)
                offsets[tp] = records[-1].offset + 1
            await consumer.commit(offsets)
        elapsed = time.perf_counter() - started
        return Rate(count / elapsed, count / max(time.process_time() - cpu, 1e-9))
    finally:
        await consumer.stop()


def handle(item: Any) -> Any:
    """The trivial handler both sides run on each message."""
    return item


async def pipeline_rate(
    topic: str, count: int, concurrency: int, max_demand: int, decode: bool
) -> Rate:
    options = Options.model_validate(
        {
            "bootstrap_servers": BOOTSTRAP,
            "topics": [topic],
            "group_id": f"bench-pipeline-{uuid.uuid4().hex[:8]}",
            "retry_topic": f"{topic}.retry",
            "dead_letter_topic": f"{topic}.dlq",
            **GROUP_SETTINGS,
        }
    )
    handled = 0
    started = cpu = 0.0
    all_handled = asyncio.Event()

    def trivial(message: Message) -> Message:
        nonlocal handled, started, cpu
        if not started:
            started = time.perf_counter()
            cpu = time.process_time()
        handled += 1
        if handled >= count:
            all_handled.set()
        return handle(message)  # type: ignore[no-any-return]

    demand = concurrency * max_demand
    # No telemetry subscriber: the pipeline runs as it would without metrics.
    pipeline = Pipeline(
        "bench",
        trivial,
        ProducerOptions(
            producer_factory(options, demand=demand), decode=Decode("json") if decode else None
        ),
        ProcessorOptions(
            concurrency=concurrency, max_demand=max_demand, partition_by=ordering_key(options)
        ),
    )
    async with pipeline:
        await asyncio.wait_for(all_handled.wait(), 600)
        while len(pipeline.in_flight):  # noqa: ASYNC110 - a 1 ms poll, no hook needed
            await asyncio.sleep(0.001)
        ended, cpu_ended = time.perf_counter(), time.process_time()
    return Rate(count / (ended - started), count / max(cpu_ended - cpu, 1e-9))


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--size", type=int, default=100, help="payload bytes")
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=4, help="processors")
    parser.add_argument("--max-demand", type=int, default=100)
    parser.add_argument("--json", action="store_true", help="~1 KB JSON orders, decoded")
    parser.add_argument(
        "--gc",
        choices=POLICIES,
        default="freeze",
        help="the collector policy, as broadway-py run applies it (default: freeze)",
    )
    parser.add_argument("--smoke", action="store_true", help="a few thousand messages, one round")
    args = parser.parse_args(argv)
    if args.smoke:
        args.messages, args.rounds = 5000, 1
    topic = f"bench-{uuid.uuid4().hex[:8]}"
    apply_gc_policy(args.gc)  # both sides run under it, as the service's process does
    bodies = orders(1000) if args.json else None
    if bodies:
        args.size = round(statistics.mean(len(body) for body in bodies))
    await fill(topic, args.messages, args.size, args.partitions, bodies)
    pipeline: list[Rate] = []
    baseline: list[Rate] = []
    for _ in range(args.rounds):
        pipeline.append(
            await pipeline_rate(topic, args.messages, args.concurrency, args.max_demand, args.json)
        )
        baseline.append(await baseline_rate(topic, args.messages, args.json))
    rate = statistics.median(r.wall for r in pipeline)
    base = statistics.median(r.wall for r in baseline)
    cpu_rate = statistics.median(r.cpu for r in pipeline)
    cpu_base = statistics.median(r.cpu for r in baseline)
    ratio = rate / base
    shape = ("JSON decoded" if args.json else "raw bytes") + f", gc {args.gc}"
    print(
        f"kafka throughput ({args.messages} messages of {args.size} B, {shape}, "
        f"{args.partitions} partitions, {args.concurrency} processors x {args.max_demand} "
        f"demand, {args.rounds} rounds, broker {BOOTSTRAP})"
    )
    rounds = ", ".join(f"{r.wall:,.0f}" for r in pipeline)
    print(f"  pipeline : {rate:>10,.0f} msg/s  {per_100k(cpu_rate)}   (rounds: {rounds})")
    rounds = ", ".join(f"{r.wall:,.0f}" for r in baseline)
    print(f"  baseline : {base:>10,.0f} msg/s  {per_100k(cpu_base)}   (rounds: {rounds})")
    print(f"  ratio    : {ratio:.2f} (target >= 0.9)")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, sys.argv[1:]))
