"""Dead-letter names each broker accepts, checked when the options are validated."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from broadway_py.connectors.kafka import Options as KafkaOptions
from broadway_py.connectors.rabbitmq import Options as RabbitOptions
from broadway_py.connectors.sqs import Options as SqsOptions

URL = "http://127.0.0.1:9/000000000000"


def sqs(queue: str, dead_letter: str) -> SqsOptions:
    return SqsOptions.model_validate({"queue_url": f"{URL}/{queue}", "dead_letter": dead_letter})


@pytest.mark.parametrize(
    ("queue", "dead_letter"),
    [
        ("orders", "orders-dlq"),
        ("orders", "orders_DLQ_2"),
        ("orders", "x" * 80),
        ("orders", "redrive"),
        ("orders", f"{URL}/orders-dlq"),
        ("orders.fifo", "orders-dlq.fifo"),
        ("orders.fifo", "d" * 75 + ".fifo"),
    ],
)
def test_sqs_accepts(queue: str, dead_letter: str) -> None:
    assert sqs(queue, dead_letter).dead_letter == dead_letter


@pytest.mark.parametrize(
    ("queue", "dead_letter", "said"),
    [
        ("orders", "orders.dlq", "is not a valid SQS queue name"),
        ("orders", "x" * 81, "is not a valid SQS queue name"),
        ("orders", "orders dlq", "is not a valid SQS queue name"),
        ("orders", f"{URL}/orders.dlq", "'orders.dlq' is not a valid SQS queue name"),
        ("orders", "orders-dlq.fifo", "must be standard too"),
        ("orders.fifo", "orders-dlq", "must be FIFO too"),
        ("orders.fifo", "d" * 76 + ".fifo", "is not a valid SQS queue name"),
    ],
)
def test_sqs_refuses(queue: str, dead_letter: str, said: str) -> None:
    with pytest.raises(ValidationError) as raised:
        sqs(queue, dead_letter)
    assert said in str(raised.value)
    assert "1-80 characters" in str(raised.value) or "'.fifo'" in str(raised.value)


def kafka(dead_letter_topic: str) -> KafkaOptions:
    return KafkaOptions.model_validate(
        {
            "bootstrap_servers": "127.0.0.1:9092",
            "topics": ["orders"],
            "group_id": "g",
            "dead_letter_topic": dead_letter_topic,
        }
    )


@pytest.mark.parametrize("name", ["orders.dlq", "a", "x" * 249, "A-b_c.9"])
def test_kafka_accepts(name: str) -> None:
    assert kafka(name).dead_letter_topic_name == name


@pytest.mark.parametrize("name", [".", "..", "x" * 250, "orders/dlq", "orders dlq", "ordérs"])
def test_kafka_refuses(name: str) -> None:
    with pytest.raises(ValidationError, match="not a valid Kafka topic name"):
        kafka(name)


def rabbit(queue: str, dead_letter: Any) -> RabbitOptions:
    return RabbitOptions.model_validate(
        {"url": "amqp://guest:guest@127.0.0.1:5672/", "queue": queue, "dead_letter": dead_letter}
    )


def test_rabbitmq_takes_255_bytes_of_utf8() -> None:
    assert rabbit("q", "é" * 127 + "x").dead_letter.queue == "é" * 127 + "x"
    with pytest.raises(ValidationError, match="256 bytes of UTF-8"):
        rabbit("q", "é" * 128)


def test_rabbitmq_checks_the_name_with_the_queue_filled_in() -> None:
    assert rabbit("o" * 200, "{queue}.dlq").dead_letter.queue == "{queue}.dlq"
    with pytest.raises(ValidationError, match="260 bytes"):
        rabbit("o" * 200, "{queue}." + "d" * 59)


def test_rabbitmq_reject_strategy_publishes_nowhere() -> None:
    options = rabbit("q", {"strategy": "reject", "queue": "é" * 200})
    assert options.dead_letter.strategy == "reject"
