"""Using more cores: ``--workers 2`` against 1, and ``executor: process`` against the loop.

Runs the real ``broadway-py run`` on a pipeline file, as a user would, and
reads the parent's ``/metrics`` (summed over the workers) every 0.1 s; a
rate counts from 20% of the messages acknowledged to 95%, so process
start-up, the group join and the rebalance as the second worker joins are
left out. Each shape against its
baseline, alternating, medians of ``--rounds``:

- Kafka, 4 partitions, a CPU-bound handler (~200 µs of pure Python per
  message, bench/cpu_handler.py): ``--workers 2`` against ``--workers 1``
  (target >= 1.7 on 2 cores);
- the same handler, one process, ``executor: process`` against ``loop``
  (target >= 1.7);
- RabbitMQ with a trivial handler, ``--workers 2`` against 1 (the broker
  shares the two cores: a figure, no target).

Needs the brokers from scripts/brokers/. ``--smoke``: small runs, one round.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import re
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aio_pika
import aiohttp

from bench.kafka_throughput import BOOTSTRAP
from bench.kafka_throughput import fill as fill_topic
from bench.rabbitmq_throughput import DEFAULT_URL
from bench.rabbitmq_throughput import fill as fill_queue

ROOT = Path(__file__).resolve().parents[1]
ACKED = re.compile(
    r'^broadway_messages_acked_total\{[^}]*outcome="successful"[^}]*\} ([0-9.e+]+)$', re.M
)
TARGET = 1.7

KAFKA = """
name: workers-bench
handler: {handler}
producer:
  kafka:
    bootstrap_servers: {bootstrap}
    topics: [{topic}]
    group_id: {group}
    session_timeout_ms: 6000
    heartbeat_interval_ms: 500
    rebalance_timeout_ms: 3000
    revoke_timeout: 1.0
processors: {{concurrency: 4, max_demand: 100, executor: {executor}}}
http: {{port: {port}}}
logging: {{level: warning}}
"""

RABBITMQ = """
name: workers-bench
handler: {handler}
producer:
  rabbitmq:
    url: {url}
    queue: {queue}
processors: {{concurrency: 4, max_demand: 100, executor: {executor}}}
http: {{port: {port}}}
logging: {{level: warning}}
"""


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def acked(session: aiohttp.ClientSession, port: int) -> float:
    try:
        async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
            text = await response.text()
    except aiohttp.ClientError:
        return 0.0
    return sum(float(value) for value in ACKED.findall(text))


async def run_cli(pipeline: str, port: int, count: int, workers: int) -> float:
    """Messages per second over the middle 90% of ``count``, read from the parent's /metrics."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "pipeline.yaml"
        path.write_text(pipeline)
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "broadway_py",
            "run",
            str(path),
            "--workers",
            str(workers),
            cwd=ROOT,
            stdout=asyncio.subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        low, high = count * 0.20, count * 0.95
        started = ended = 0.0
        deadline = time.monotonic() + 600
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
                while not ended and time.monotonic() < deadline:
                    done = await acked(session, port)
                    now = time.perf_counter()
                    if not started and done >= low:
                        started = now
                    if done >= high:
                        ended = now
                    await asyncio.sleep(0.1)  # sleep-ok: the scrape interval
        finally:
            process.terminate()
            await process.wait()
    if not ended:
        raise RuntimeError("the pipeline did not finish in 600 s")
    if ended - started < 1.0:  # a few scrapes: no rate to speak of (a smoke run)
        return math.nan
    return (high - low) / (ended - started)


async def kafka_rate(count: int, workers: int, executor: str) -> float:
    topic = f"bench-workers-{uuid.uuid4().hex[:8]}"
    await fill_topic(topic, count, 64, 4)
    port = free_port()
    pipeline = KAFKA.format(
        handler="bench.cpu_handler:handle",
        bootstrap=BOOTSTRAP,
        topic=topic,
        group=f"{topic}-group",
        executor=executor,
        port=port,
    )
    return await run_cli(pipeline, port, count, workers)


async def rabbitmq_rate(url: str, count: int, workers: int) -> float:
    queue = f"bench.workers.{uuid.uuid4().hex[:8]}"
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        await channel.declare_queue(queue, durable=True)
        await fill_queue(connection, queue, count, 64)
        port = free_port()
        pipeline = RABBITMQ.format(
            handler="bench.cpu_handler:trivial", url=url, queue=queue, executor="loop", port=port
        )
        return await run_cli(pipeline, port, count, workers)
    finally:
        for name in (queue, f"{queue}.dlq"):
            await channel.queue_delete(name)
        await connection.close()


def report(name: str, fast: list[float], slow: list[float], labels: tuple[str, str]) -> float:
    a, b = statistics.median(fast), statistics.median(slow)
    if math.isnan(a) or math.isnan(b):
        print(f"  {name}: {labels[0]} / {labels[1]}: too short to measure (--smoke)")
        return math.nan
    print(f"  {name}: {labels[0]} {a:,.0f} msg/s, {labels[1]} {b:,.0f} msg/s, ratio {a / b:.2f}")
    return a / b


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=40_000, help="Kafka messages per run")
    parser.add_argument("--rabbitmq-messages", type=int, default=60_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--url", default=os.environ.get("BROADWAY_RABBITMQ_URL", DEFAULT_URL))
    parser.add_argument("--smoke", action="store_true", help="small runs, one round")
    args = parser.parse_args(argv)
    if args.smoke:
        args.messages, args.rabbitmq_messages, args.rounds = 2_000, 2_000, 1
    runs: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        for key, run in (
            ("kafka 1 worker", kafka_rate(args.messages, 1, "loop")),
            ("kafka 2 workers", kafka_rate(args.messages, 2, "loop")),
            ("kafka process", kafka_rate(args.messages, 1, "process")),
            ("rabbitmq 1 worker", rabbitmq_rate(args.url, args.rabbitmq_messages, 1)),
            ("rabbitmq 2 workers", rabbitmq_rate(args.url, args.rabbitmq_messages, 2)),
        ):
            runs.setdefault(key, []).append(await run)
    print(
        f"using more cores ({os.cpu_count()} CPUs; Kafka {args.messages} messages on 4 "
        f"partitions, ~200 µs of CPU each; {args.rounds} rounds, medians)"
    )
    workers = report(
        "kafka, CPU-bound",
        runs["kafka 2 workers"],
        runs["kafka 1 worker"],
        ("--workers 2", "--workers 1"),
    )
    process = report(
        "kafka, CPU-bound",
        runs["kafka process"],
        runs["kafka 1 worker"],
        ("executor: process", "executor: loop"),
    )
    report(
        "rabbitmq, trivial",
        runs["rabbitmq 2 workers"],
        runs["rabbitmq 1 worker"],
        ("--workers 2", "--workers 1"),
    )
    print(
        f"  targets: --workers 2 / 1 >= {TARGET} ({workers:.2f}), process / loop >= "
        f"{TARGET} ({process:.2f}); RabbitMQ: a figure, the broker shares the cores"
    )
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
