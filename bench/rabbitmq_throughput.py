"""Consume-and-ack throughput: a broadway_py pipeline against a raw aio-pika loop.

Both consume the same queue, filled with the same messages, with the same
prefetch count, in the same command; the raw loop acks each message as it
comes (``await message.ack()``), the pipeline runs a trivial handler and
acks through the connector. Rounds alternate raw / pipeline; the best rate of
each is compared. Prints both rates, the CPU seconds each took per 100,000
messages, and their ratio (target >= 0.8; >= 1.0 with ``--json``).

``--json``: ~1 KB JSON orders; the pipeline decodes them (``decode: json``),
the raw loop calls ``json.loads`` on each body.

    .venv/bin/python bench/rabbitmq_throughput.py              # 20k messages, 3 rounds
    .venv/bin/python bench/rabbitmq_throughput.py --smoke      # a few seconds, for CI
    BROADWAY_RABBITMQ_URL=amqp://... .venv/bin/python bench/rabbitmq_throughput.py --check

The server comes from ``scripts/brokers/rabbitmq.sh start`` (BROADWAY_RABBITMQ_URL).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable

import aio_pika
from pamqp.commands import Basic

from bench.loops import run_main
from bench.payloads import orders, per_100k
from broadway_py import Decode, Message, Pipeline, ProcessorOptions, ProducerOptions, Telemetry
from broadway_py.connectors.rabbitmq import Options, producer_factory
from broadway_py.service.gc_policy import POLICIES
from broadway_py.service.gc_policy import apply as apply_gc_policy
from broadway_py.telemetry import Event, MessagesAcked

DEFAULT_URL = "amqp://guest:guest@127.0.0.1:35672/"
Run = Callable[[str, str, int, int, bool], Awaitable[float]]
TARGET = 0.8


async def fill(
    connection: aio_pika.abc.AbstractConnection,
    queue: str,
    count: int,
    size: int,
    bodies: list[bytes] | None = None,
) -> None:
    channel = await connection.channel(publisher_confirms=True)
    raw = await channel.get_underlay_channel()
    made = bodies or [b"x" * size]
    properties = Basic.Properties(delivery_mode=1)
    for start in range(0, count, 1000):
        await asyncio.gather(
            *(
                raw.basic_publish(made[i % len(made)], routing_key=queue, properties=properties)
                for i in range(start, min(start + 1000, count))
            )
        )
    await channel.close()


async def depth(connection: aio_pika.abc.AbstractConnection, queue: str) -> int:
    channel = await connection.channel()
    raw = await channel.get_underlay_channel()
    declared = await raw.queue_declare(queue, passive=True)
    await channel.close()
    return int(declared.message_count or 0)


async def raw_loop(
    url: str, queue: str, count: int, prefetch: int, decode: bool = False, every: int = 1
) -> float:
    """Seconds for a plain aio-pika consumer to receive and ack ``count`` messages.

    ``every`` > 1 acks with ``multiple=True`` once per ``every`` messages instead.
    """
    started = time.perf_counter()
    connection = await aio_pika.connect(url)
    channel = await connection.channel()
    await channel.set_qos(prefetch_count=prefetch)
    source = await channel.get_queue(queue, ensure=False)
    done = 0
    async with source.iterator() as messages:
        async for message in messages:
            if decode:
                json.loads(message.body)
            done += 1
            if every == 1:
                await message.ack()
            elif done % every == 0 or done == count:
                await message.ack(multiple=True)
            if done == count:
                break
    elapsed = time.perf_counter() - started
    await connection.close()
    return elapsed


async def raw_batched(url: str, queue: str, count: int, prefetch: int, decode: bool) -> float:
    return await raw_loop(url, queue, count, prefetch, decode, every=max(prefetch // 2, 1))


async def pipeline_run(url: str, queue: str, count: int, prefetch: int, decode: bool) -> float:
    """Seconds for a pipeline with a trivial handler to receive and ack ``count`` messages."""
    options = Options.model_validate({"url": url, "queue": queue, "prefetch_count": prefetch})

    def handle(message: Message) -> Message:
        return message

    telemetry = Telemetry("bench")  # as in production, where metrics subscribe
    all_acked = asyncio.Event()
    acked = 0

    def on_event(event: Event) -> None:
        nonlocal acked
        if isinstance(event, MessagesAcked):
            acked += event.successful
            if acked >= count:
                all_acked.set()

    telemetry.subscribe(on_event)
    pipeline = Pipeline(
        "bench",
        handle,
        ProducerOptions(
            producer_factory(options, demand=prefetch), decode=Decode("json") if decode else None
        ),
        ProcessorOptions(concurrency=2, max_demand=50),
        telemetry=telemetry,
    )
    started = time.perf_counter()
    await pipeline.start()
    await all_acked.wait()
    elapsed = time.perf_counter() - started
    await pipeline.stop()
    return elapsed


async def main(args: argparse.Namespace) -> int:
    url = args.url
    queue = f"bench.{uuid.uuid4().hex[:10]}"
    connection = await aio_pika.connect(url)
    channel = await connection.channel()
    await channel.declare_queue(queue, durable=False, auto_delete=False)
    best = {"raw": 0.0, "pipeline": 0.0, "batched": 0.0}
    cpu = {"raw": 0.0, "pipeline": 0.0, "batched": 0.0}  # messages per CPU second, best
    apply_gc_policy(args.gc)  # both sides run under it, as the service's process does
    bodies = orders(1000) if args.json else None
    if bodies:
        args.size = round(sum(map(len, bodies)) / len(bodies))
    runs: list[tuple[str, Run]] = [("raw", raw_loop), ("pipeline", pipeline_run)]
    if args.batched_baseline:
        runs.append(("batched", raw_batched))
    try:
        for round_ in range(1, args.rounds + 1):
            for name, run in runs:
                await fill(connection, queue, args.messages, args.size, bodies)
                cpu_started = time.process_time()
                elapsed = await run(url, queue, args.messages, args.prefetch, args.json)
                used = max(time.process_time() - cpu_started, 1e-9)
                rate = args.messages / elapsed
                best[name] = max(best[name], rate)
                cpu[name] = max(cpu[name], args.messages / used)
                left = await depth(connection, queue)
                print(
                    f"round {round_} {name:>8}: {args.messages} messages in {elapsed:.3f}s "
                    f"= {rate:,.0f} msg/s" + (f" ({left} left)" if left else ""),
                    flush=True,
                )
                if left:  # nothing should be left; start the next run from empty
                    raw = await channel.get_underlay_channel()
                    await raw.queue_purge(queue)
    finally:
        raw = await channel.get_underlay_channel()
        for name in (queue, f"{queue}.dlq"):  # the pipeline declares its dead-letter queue
            await raw.queue_delete(name, if_unused=False, if_empty=False)
        await connection.close()
    ratio = best["pipeline"] / best["raw"]
    target = 1.0 if args.json else TARGET
    shape = ("JSON decoded" if args.json else "raw bytes") + f", gc {args.gc}"
    print(
        f"rabbitmq consume+ack (prefetch {args.prefetch}, {args.size}-byte messages, {shape}): "
        f"raw aio-pika {best['raw']:,.0f} msg/s ({per_100k(cpu['raw'])}), "
        f"pipeline {best['pipeline']:,.0f} msg/s ({per_100k(cpu['pipeline'])}), "
        f"ratio {ratio:.2f} (target >= {target})"
    )
    if args.batched_baseline:
        batched = best["batched"]
        print(
            f"for reference: raw aio-pika acking with multiple=True every {args.prefetch // 2} "
            f"{batched:,.0f} msg/s; pipeline / that {best['pipeline'] / batched:.2f}"
        )
    if args.check and ratio < target:
        print(f"FAIL: ratio {ratio:.2f} is below {target}", file=sys.stderr)
        return 1
    return 0


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("BROADWAY_RABBITMQ_URL", DEFAULT_URL))
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--prefetch", type=int, default=100)
    parser.add_argument("--size", type=int, default=64, help="payload bytes")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="~1 KB JSON orders, decoded")
    parser.add_argument(
        "--gc",
        choices=POLICIES,
        default="freeze",
        help="the collector policy, as broadway-py run applies it (default: freeze)",
    )
    parser.add_argument("--smoke", action="store_true", help="a tiny run (CI)")
    parser.add_argument("--check", action="store_true", help=f"exit 1 when ratio < {TARGET}")
    parser.add_argument(
        "--batched-baseline",
        action="store_true",
        help="also time a raw loop that acks with multiple=True (for reference)",
    )
    args = parser.parse_args(argv)
    if args.smoke:
        args.messages, args.rounds = min(args.messages, 2_000), 1
    return args


if __name__ == "__main__":
    sys.exit(run_main(lambda rest: main(parse(rest)), sys.argv[1:]))
