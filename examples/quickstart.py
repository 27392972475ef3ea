"""A pipeline defined in Python on the embedded in-memory broker.

    python examples/quickstart.py

Orders are pushed to a memory queue; processors parse them and route them to
the "db" batcher in batches of 50 per customer; an order that cannot be parsed
is retried, then dead-lettered.
"""

from __future__ import annotations

import asyncio
import json

from broadway_py import (
    BatcherOptions,
    BatchInfo,
    Handler,
    Message,
    Pipeline,
    ProcessorOptions,
    ProducerOptions,
    RetryPolicy,
)
from broadway_py.connectors.memory import MemoryBroker, MemoryProducer


class Orders(Handler):
    def __init__(self) -> None:
        self.saved = 0

    def handle_message(self, message: Message) -> Message:
        order = json.loads(message.data)  # raises on bad JSON: the message fails
        return message.put_data(order).put_batcher("db").put_batch_key(order["customer"])

    async def handle_batch(
        self, batcher: str, messages: list[Message], info: BatchInfo
    ) -> list[Message]:
        await asyncio.sleep(0.001)  # sleep-ok: one round trip per batch, e.g. an INSERT of 50 rows
        self.saved += len(messages)
        return messages


async def main() -> None:
    broker = MemoryBroker()
    orders = broker.queue("orders")
    for n in range(1000):
        orders.push(json.dumps({"id": n, "customer": n % 7}).encode())
    orders.push(b"{not json")

    handler = Orders()
    pipeline = Pipeline(
        "orders",
        handler,
        ProducerOptions(MemoryProducer.factory(orders)),
        ProcessorOptions(concurrency=4, max_demand=50),
        [BatcherOptions("db", batch_size=50, batch_timeout=0.2, concurrency=2)],
        retry=RetryPolicy(max_attempts=3, min_delay=0.01, max_delay=0.1),
    )
    async with pipeline:  # start; on exit: drain (finish, flush, ack)
        await orders.wait_idle(timeout=30)

    print(f"saved {handler.saved} orders in batches; acked {orders.stats.acked}")
    for letter in orders.dead_letters:
        print(f"dead letter after {letter.attempt} attempts: {letter.data!r}: {letter.reason}")


if __name__ == "__main__":
    asyncio.run(main())
