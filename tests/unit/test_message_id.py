"""``message.id``: the message's identity at its broker, the same on every delivery."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from pamqp.commands import Basic

from broadway_py import Decision, Message
from broadway_py.acknowledger import Failed
from broadway_py.connectors.kafka import headers as h
from broadway_py.connectors.kafka.message import Delivery, KafkaMessage
from broadway_py.connectors.memory import GeneratorProducer, MemoryBroker, MemoryProducer
from broadway_py.connectors.rabbitmq.copies import dead_letter_properties, retry_properties
from broadway_py.telemetry import Telemetry
from examples import idempotent_sink


class _Acker:
    async def ack(self, ack_ref: Any, successful: Any, failed: Any) -> None:
        return None


def test_a_message_has_no_id_unless_its_connector_gives_one() -> None:
    assert Message(b"x", _Acker()).id is None
    message = Message(b"x", _Acker(), None, None, None, 1, "orders/3/1042")
    assert message.id == "orders/3/1042"
    message.id = "set by a transformer"
    assert message.id == "set by a transformer"


async def test_memory_queue_id_survives_a_retry_and_a_redelivery() -> None:
    queue = MemoryBroker().queue("ids")
    pushed = queue.push(b"a")
    queue.push(b"b")
    first = MemoryProducer(queue)
    taken = await first.fetch(2)
    assert [m.id for m in taken] == [str(pushed), str(pushed + 1)]
    retried = taken[0]
    retried.failed("boom").decision = Decision.retry(0)
    await first.ack(first.lease, [], Failed.of([retried]))
    await first.close()  # b was never acked: handed back
    again = await MemoryProducer(queue).fetch(2)
    assert sorted((m.id, m.attempt) for m in again) == [(str(pushed), 2), (str(pushed + 1), 2)]


async def test_generator_id_is_the_sequence_number_on_every_delivery() -> None:
    generator = GeneratorProducer(count=3)
    await generator.start(Telemetry("ids"))
    messages = await generator.fetch(3)
    assert [m.id for m in messages] == ["0", "1", "2"]
    failed = messages[1].failed("boom")
    failed.decision = Decision.retry(0)
    await generator.ack(None, [messages[0], messages[2]], Failed.of([failed]))
    (again,) = await asyncio.wait_for(generator.fetch(3), 5)
    assert (again.id, again.attempt) == ("1", 2)
    await generator.close()


def _kafka(topic: str, partition: int, offset: int, headers: h.Headers = ()) -> KafkaMessage:
    delivery = Delivery(None, 0, (topic, partition))  # type: ignore[arg-type]
    return KafkaMessage(b"v", _Acker(), delivery, offset, None, 0, headers, 1)


def test_kafka_id_is_topic_partition_offset_of_the_record() -> None:
    message = _kafka("orders", 3, 1042)
    assert message.id == "orders/3/1042"
    assert h.format_id("orders", 3, 1042) == "orders/3/1042"


def test_kafka_retry_and_dead_letter_copies_keep_the_original_id() -> None:
    retry = h.retry_headers([("trace", b"1")], "orders", 3, 1042, 2, 0.0)
    copy = _kafka("orders.retry", 0, 7, retry)
    assert copy.id == "orders/3/1042"
    # Retried again from the retry topic: still the first record's id.
    again = h.retry_headers(retry, "orders.retry", 0, 7, 3, 0.0)
    assert _kafka("orders.retry", 1, 99, again).id == "orders/3/1042"
    dead = h.dead_letter_headers(again, "orders.retry", 1, 99, 3, "boom", 0.0)
    assert h.message_id(dead, "orders.dlq", 0, 5) == "orders/3/1042"


def test_kafka_id_can_be_set_and_falls_back_to_the_record() -> None:
    broken = [(h.ORIGINAL_TOPIC, b"orders"), (h.ORIGINAL_OFFSET, b"not a number")]
    message = _kafka("orders.retry", 0, 7, broken)
    assert message.id == "orders.retry/0/7"
    message.id = "mine"
    assert message.id == "mine"


def test_rabbitmq_copies_carry_the_publishers_message_id() -> None:
    original = Basic.Properties(message_id="order-17", headers={"x": 1})
    assert retry_properties(original, "x-attempt", 2, 100).message_id == "order-17"
    dead = dead_letter_properties(
        original, "x-attempt", reason="boom", attempts=3, source_queue="q", now=0.0
    )
    assert dead.message_id == "order-17"


async def test_the_example_sink_writes_each_id_once_through_a_failed_commit(tmp_path: Any) -> None:
    counts = await idempotent_sink.main(str(tmp_path))
    assert counts["rows"] == 1000
    assert counts["inserted"] == 1000
    assert counts["deliveries"] > 1000, "the batch that failed after its commit came again"
    assert counts["acked"] == 1000


def test_the_docs_recipe_is_the_example_code() -> None:
    root = Path(__file__).resolve().parents[2]
    docs = (root / "docs" / "delivery.md").read_text()
    section = docs.split("## Idempotent sinks", 1)[1].split("\n## ", 1)[0]
    snippet = section.split("```python\n", 1)[1].split("```", 1)[0]
    example = iter((root / "examples" / "idempotent_sink.py").read_text().splitlines())
    for line in filter(None, snippet.splitlines()):
        assert line in example, f"not in examples/idempotent_sink.py, in this order: {line!r}"
