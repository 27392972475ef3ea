"""A pipeline process for the competing-consumers test.

``python -m tests.integration.rabbitmq.worker QUEUE`` prints ``READY`` once
connected and ``GOT <payload>`` per message handled; SIGTERM drains it.
"""

from __future__ import annotations

import asyncio
import sys

from broadway_py import Message, Pipeline, ProcessorOptions, ProducerOptions, Telemetry
from broadway_py.connectors.rabbitmq import producer_factory
from broadway_py.telemetry import Event, ProducerConnected
from tests.integration.rabbitmq.support import options


async def main(queue: str) -> None:
    telemetry = Telemetry("worker")

    def on_event(event: Event) -> None:
        if isinstance(event, ProducerConnected) and event.connected:
            print("READY", flush=True)

    telemetry.subscribe(on_event)

    async def handle(message: Message) -> Message:
        await asyncio.sleep(0.002)  # sleep-ok: simulated work in a slow handler
        print("GOT", message.data.decode(), flush=True)
        return message

    pipeline = Pipeline(
        "worker",
        handle,
        ProducerOptions(producer_factory(options(queue, prefetch_count=10), demand=10)),
        ProcessorOptions(concurrency=2, max_demand=5),
        telemetry=telemetry,
    )
    await pipeline.run()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
