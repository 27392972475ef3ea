"""SQS receive-and-delete throughput: a broadway_py pipeline against a raw aiobotocore loop.

Both run in this one command against the same SQS server (moto in server mode
here: scripts/brokers/sqs.sh start) and the same small queue, which is filled
with the same number of messages before each run. The raw loop receives 10
(long polling) and deletes them with one DeleteMessageBatch, over and over;
the pipeline runs a handler that does nothing. Both are timed from their
first receive (clients created and the queue looked up before). Rounds
alternate which goes first; the medians are compared.

moto slows down as a queue deepens (every call walks every queued message),
so the queue stays small (a few hundred messages) and only the ratio means
anything, never the bare rates.

    .venv/bin/python bench/sqs_throughput.py            # 300 messages, 3 rounds
    .venv/bin/python bench/sqs_throughput.py --smoke    # a tiny run for CI (< 20 s)
    .venv/bin/python bench/sqs_throughput.py --check    # exit 1 below the target ratio
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import sys
import time
import uuid
from typing import Any

from aiobotocore.session import get_session  # type: ignore[import-untyped, unused-ignore]

from broadway_py import Message, Pipeline, ProcessorOptions, ProducerOptions, Telemetry
from broadway_py.connectors.sqs import Options, SqsProducer, producer_factory
from broadway_py.telemetry import Event, MessagesAcked

TARGET = 0.8


async def fill(client: Any, url: str, count: int) -> None:
    body = "x" * 100
    for start in range(0, count, 10):
        entries = [
            {"Id": str(i), "MessageBody": f"{start + i}:{body}"}
            for i in range(min(10, count - start))
        ]
        response = await client.send_message_batch(QueueUrl=url, Entries=entries)
        if response.get("Failed"):
            raise RuntimeError(f"could not fill the queue: {response['Failed']}")


async def depth(client: Any, url: str) -> int:
    response = await client.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )
    attributes = response["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


async def raw_loop(client: Any, url: str, count: int) -> float:
    """Receive 10, delete them in one batch, until ``count`` were deleted: msg/s."""
    deleted = 0
    started = time.perf_counter()
    while deleted < count:
        response = await client.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=20,
            MessageSystemAttributeNames=["ApproximateReceiveCount", "MessageGroupId"],
            MessageAttributeNames=["All"],
        )
        messages = response.get("Messages") or []
        if not messages:
            continue
        entries = [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
        ]
        result = await client.delete_message_batch(QueueUrl=url, Entries=entries)
        deleted += len(result.get("Successful") or ())
    return count / (time.perf_counter() - started)


async def pipeline_run(
    endpoint: str, url: str, count: int, concurrency: int, max_demand: int
) -> tuple[float, SqsProducer]:
    """A pipeline with a trivial handler until ``count`` were acked: msg/s."""
    telemetry = Telemetry("bench-sqs")
    acked = 0
    done = asyncio.Event()

    def on_event(event: Event) -> None:
        nonlocal acked
        if isinstance(event, MessagesAcked):
            acked += event.successful
            if acked >= count:
                done.set()

    telemetry.subscribe(on_event)

    def handle(message: Message) -> Message:
        return message

    options = Options(queue_url=url, endpoint_url=endpoint, backlog_interval=0)
    pipeline = Pipeline(
        "bench-sqs",
        handle,
        ProducerOptions(producer_factory(options, demand=concurrency * max_demand)),
        ProcessorOptions(concurrency=concurrency, max_demand=max_demand),
        telemetry=telemetry,
    )
    await pipeline.start()  # connects (like the raw loop's client, outside the timing)
    started = time.perf_counter()
    await asyncio.wait_for(done.wait(), 600)
    elapsed = time.perf_counter() - started
    producer = pipeline.producers[0]
    await pipeline.stop()
    assert isinstance(producer, SqsProducer)
    return count / elapsed, producer


async def main(args: argparse.Namespace) -> int:
    for name, default in (
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ):
        os.environ.setdefault(name, default)
    count, rounds = (50, 1) if args.smoke else (args.messages, args.rounds)
    # The bench queue has no dead-letter queue; the connector's warning about it is noise here.
    logging.getLogger("broadway_py.connectors.sqs").setLevel(logging.ERROR)
    raw_rates: list[float] = []
    pipeline_rates: list[float] = []
    duplicates = 0
    async with get_session().create_client(
        "sqs", region_name=os.environ["AWS_DEFAULT_REGION"], endpoint_url=args.endpoint
    ) as client:
        name = f"bench-{uuid.uuid4().hex[:10]}"
        url = (await client.create_queue(QueueName=name))["QueueUrl"]
        try:
            for round_number in range(rounds):
                order = ("raw", "pipeline") if round_number % 2 == 0 else ("pipeline", "raw")
                for which in order:
                    await fill(client, url, count)
                    if which == "raw":
                        rate = await raw_loop(client, url, count)
                        raw_rates.append(rate)
                    else:
                        rate, producer = await pipeline_run(
                            args.endpoint, url, count, args.concurrency, args.max_demand
                        )
                        pipeline_rates.append(rate)
                        duplicates += producer.stats.duplicates
                    left = await depth(client, url)
                    if left:
                        raise RuntimeError(f"{which} left {left} messages in the queue")
                    print(f"round {round_number + 1} {which:>8}: {rate:8.1f} msg/s", flush=True)
        finally:
            await client.delete_queue(QueueUrl=url)
    raw = statistics.median(raw_rates)
    piped = statistics.median(pipeline_rates)
    ratio = piped / raw
    print(
        f"sqs receive+delete, {count} messages, {rounds} round(s), "
        f"processors {args.concurrency}x{args.max_demand}:"
    )
    print(f"  raw aiobotocore loop (receive 10, delete batch): {raw:8.1f} msg/s")
    print(f"  broadway_py pipeline (trivial handler):          {piped:8.1f} msg/s")
    print(f"  ratio pipeline/raw: {ratio:.2f} (target >= {TARGET})")
    if duplicates:
        print(f"  (the server delivered {duplicates} duplicate(s); the producer dropped them)")
    if ratio < TARGET and not args.smoke:
        print("  BELOW TARGET")
        return 1 if args.check else 0
    return 0


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--endpoint",
        default=os.environ.get("BROADWAY_SQS_ENDPOINT", "http://127.0.0.1:35000"),
        help="SQS endpoint (default: $BROADWAY_SQS_ENDPOINT or http://127.0.0.1:35000)",
    )
    parser.add_argument("--messages", type=int, default=300, help="messages per run")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each, alternating")
    parser.add_argument("--concurrency", type=int, default=2, help="processors")
    parser.add_argument("--max-demand", type=int, default=10, help="processors' max_demand")
    parser.add_argument("--smoke", action="store_true", help="50 messages, 1 round, no target")
    parser.add_argument("--check", action="store_true", help="exit 1 below the target ratio")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse())))
