"""Typed bodies end to end: a pydantic model as the decode step of a real pipeline.

On the in-memory broker, from Python (``Decode("json", model=Order)``) and from
a pipeline file (``decode: {format: json, model: ...}``): a good body reaches
the handler as an ``Order``, a bad one is dead-lettered at once with the
validation summary as its reason (never retried, never handled), and the
pipeline goes on.
"""

from __future__ import annotations

import json
import textwrap
import uuid
from pathlib import Path
from typing import Any

from broadway_py import Decode, Message, Pipeline, ProducerOptions, RetryPolicy
from broadway_py.config import load_pipeline
from broadway_py.connectors.memory import DEFAULT_BROKER, MemoryBroker, MemoryProducer, MemoryQueue
from examples.orders_model import Order

RETRYING = RetryPolicy(max_attempts=5, min_delay=0, max_delay=0, jitter=0)


def order(number: int, customer: str = "acme") -> bytes:
    lines = [{"sku": f"sku-{number}", "quantity": 2, "price": 1.25}]
    return json.dumps({"id": number, "customer": customer, "lines": lines}).encode()


BAD = {
    b'{"id": 9, "customer": "c", "lines": [], "note": "card=4111111111111111"}': (
        "DecodeError: payload is not a valid Order: 1 validation error: "
        "lines: List should have at least 1 item after validation, not 0"
    ),
    b"{not json": "DecodeError: payload is not valid JSON: key must be a string at line 1 column 2",
    b'{"customer": "c", "lines": [{"sku": "s", "quantity": 0, "price": 1}]}': (
        "DecodeError: payload is not a valid Order: 2 validation errors: id: Field required; "
        "lines.0.quantity: Input should be greater than 0"
    ),
}


class Recording:
    def __init__(self) -> None:
        self.seen: list[tuple[Any, int]] = []

    def __call__(self, message: Message) -> Message:
        self.seen.append((message.data, message.attempt))
        return message


def check_outcome(queue: MemoryQueue, seen: list[tuple[Any, int]], good: list[int]) -> None:
    assert all(isinstance(data, Order) for data, _ in seen)
    assert sorted(data.id for data, _ in seen) == good
    assert all(attempt == 1 for _, attempt in seen)
    letters = {letter.data: letter for letter in queue.dead_letters}
    assert {data: letter.reason for data, letter in letters.items()} == BAD
    assert all(letter.attempt == 1 for letter in letters.values())
    assert not any(b"4111" in letter.reason.encode() for letter in letters.values())
    assert queue.stats.retried == 0
    assert queue.stats.acked == len(good)


async def test_from_python_good_bodies_are_orders_and_bad_ones_are_dead_lettered() -> None:
    queue = MemoryBroker(record=True).queue("orders")
    good = list(range(1, 21))
    queue.push_many([order(n) for n in good[:10]] + list(BAD) + [order(n) for n in good[10:]])
    handle = Recording()
    pipeline = Pipeline(
        "typed",
        handle,
        ProducerOptions(MemoryProducer.factory(queue), decode=Decode("json", model=Order)),
        retry=RETRYING,
    )
    async with pipeline:
        await queue.wait_idle(10)
        # A test message meets the same decode step as a delivered one.
        ok = await pipeline.test_message(order(99))
        refused = await pipeline.test_message(b'{"id": "x"}')
    check_outcome(queue, handle.seen[:20], good)
    assert ok.status.ok
    assert isinstance(ok.data, Order)
    assert ok.data.id == 99
    assert not refused.status.ok
    assert refused.status.reason is not None
    assert refused.status.reason.startswith(
        "DecodeError: payload is not a valid Order: 3 validation errors: id: Input should be"
    )
    assert [data.id for data, _ in handle.seen[20:]] == [99]


async def test_from_a_pipeline_file_with_decode_model(tmp_path: Path) -> None:
    name = f"typed-{uuid.uuid4().hex[:8]}"
    path = tmp_path / "typed.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            name: typed
            handler: tests.integration.test_typed_bodies:HANDLED
            producer:
              memory: {{queue: {name}}}
              decode: {{format: json, model: examples.orders_model:Order}}
            retry: {{max_attempts: 5, min_delay: 0, max_delay: 0, jitter: 0}}
            """
        )
    )
    HANDLED.seen.clear()
    _, pipeline = load_pipeline(path, env={})
    queue = DEFAULT_BROKER.queue(name)
    good = [1, 2, 3]
    queue.push_many([order(1), *BAD, order(2), order(3)])
    async with pipeline:
        await queue.wait_idle(10)
    check_outcome(queue, HANDLED.seen, good)


HANDLED = Recording()
"""The handler the pipeline file names (a module attribute, as a file's references are)."""
