"""Which brokers the fault cases run on, and how many messages each case sends.

Why small counts: the whole suite runs inside ``make test`` in a few minutes
on a 2-core machine, and moto slows down as a queue gets deeper.
"""

from __future__ import annotations

import pytest

from tests.fault.adapter import Adapter
from tests.fault.adapter_kafka import KafkaAdapter
from tests.fault.adapter_rabbitmq import RabbitMQAdapter
from tests.fault.adapter_sqs import SqsAdapter

COUNTS = {"rabbitmq": 300, "kafka": 300, "sqs": 200}

BROKERS = [
    pytest.param("rabbitmq", marks=pytest.mark.rabbitmq),
    pytest.param("kafka", marks=pytest.mark.kafka),
    pytest.param("sqs", marks=pytest.mark.sqs),
]


def shared_adapter(broker: str) -> Adapter:
    """An adapter on the shared broker scripts/brokers started."""
    if broker == "rabbitmq":
        return RabbitMQAdapter(COUNTS[broker])
    if broker == "kafka":
        return KafkaAdapter(COUNTS[broker])
    return SqsAdapter(COUNTS[broker])
