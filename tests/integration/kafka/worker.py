"""A pipeline in its own process, for the multi-process Kafka tests.

    python -m tests.integration.kafka.worker --topic T --group G --out FILE [--stick-after N]

Writes JSON lines to ``--out`` (flushed at once, so they survive a SIGKILL):
``{"assigned": [[topic, partition], ...]}`` whenever its assignment changes,
``{"batch": [[partition, offset, payload], ...]}`` after each batch it handled,
``{"stuck": [...]}`` for the batch it hangs in with ``--stick-after N`` (after
N handled batches). SIGTERM drains the pipeline and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from typing import Any

from broadway_py import (
    BatcherOptions,
    BatchInfo,
    Handler,
    Message,
    Pipeline,
    ProcessorOptions,
    ProducerOptions,
    ShutdownOptions,
)
from broadway_py.connectors.kafka import KafkaProducer, ordering_key, producer_factory
from tests.integration.kafka.broker import kafka_options


class Out:
    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def write(self, record: dict[str, Any]) -> None:
        os.write(self.fd, (json.dumps(record) + "\n").encode())


class Worker(Handler):
    def __init__(self, out: Out, stick_after: int | None, delay: float) -> None:
        self.out = out
        self.stick_after = stick_after
        self.delay = delay
        self.batches = 0

    async def handle_message(self, message: Message) -> Message:
        if self.delay:
            await asyncio.sleep(self.delay)  # sleep-ok: simulated work
        return message.put_batcher("default")

    async def handle_batch(
        self, batcher: str, messages: list[Message], info: BatchInfo
    ) -> list[Message]:
        rows = [[m.metadata["partition"], m.metadata["offset"], m.data.decode()] for m in messages]
        if self.stick_after is not None and self.batches >= self.stick_after:
            self.out.write({"stuck": rows})
            await asyncio.Event().wait()
        self.batches += 1
        self.out.write({"batch": rows})
        return messages


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--topic", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--stick-after", type=int, default=None)
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--batch-size", type=int, default=10)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("broadway_py").setLevel(logging.INFO)
    out = Out(args.out)
    options = kafka_options(args.topic, args.group, commit_interval=0.1)
    key = ordering_key(options)
    pipeline = Pipeline(
        "worker",
        Worker(out, args.stick_after, args.delay),
        ProducerOptions(producer_factory(options, demand=20)),
        ProcessorOptions(concurrency=2, max_demand=10, partition_by=key),
        [
            BatcherOptions(
                "default", batch_size=args.batch_size, batch_timeout=0.1, partition_by=key
            )
        ],
        shutdown=ShutdownOptions(drain_timeout=20),
    )
    await pipeline.start()
    producer = pipeline.producers[0]
    assert isinstance(producer, KafkaProducer)

    async def report_assignment() -> None:
        last: set[tuple[str, int]] | None = None
        while True:
            now = producer.assignment()
            if now != last:
                out.write({"assigned": sorted(now)})
                last = now
            await asyncio.sleep(0.05)  # sleep-ok: poll interval of the assignment reporter

    reporter = asyncio.create_task(report_assignment())
    stopping = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
    try:
        await stopping.wait()
        await pipeline.stop()
    finally:
        reporter.cancel()
    out.write({"stopped": pipeline.state})
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
