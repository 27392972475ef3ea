"""How to test your own pipeline with test_message / test_batch (run with pytest)."""

from __future__ import annotations

import json

from broadway_py import BatcherOptions, Pipeline, ProducerOptions, RetryPolicy
from broadway_py.connectors.memory import MemoryProducer
from examples.quickstart import Orders


def orders_pipeline() -> Pipeline:
    return Pipeline(
        "orders-under-test",
        Orders(),
        ProducerOptions(MemoryProducer.factory("unused")),
        batchers=[BatcherOptions("db", batch_size=10, batch_timeout=0.1)],
        retry=RetryPolicy(max_attempts=1),
    )


async def test_a_good_order_is_batched_and_acked() -> None:
    async with orders_pipeline() as pipeline:
        acked = await pipeline.test_message(json.dumps({"id": 1, "customer": 3}).encode())
    assert acked.status.ok
    assert acked.batcher == "db"
    assert acked.batch_key == 3


async def test_a_bad_order_is_dead_lettered() -> None:
    async with orders_pipeline() as pipeline:
        (acked,) = await pipeline.test_batch([b"{oops"])
    assert not acked.status.ok
    assert acked.decision is not None
    assert acked.decision.kind == "dead_letter"
