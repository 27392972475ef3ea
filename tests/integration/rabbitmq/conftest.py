"""Fixtures of the RabbitMQ integration tests.

``broker``: the shared server of scripts/brokers/rabbitmq.sh (never stopped).
``private_node`` / ``private_broker``: a node of this test module alone, for
tests that stop and start the server (tests/broker_scripts.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.broker_scripts import RabbitMQNode, private_rabbitmq
from tests.integration.rabbitmq.support import Broker


@pytest.fixture
async def broker() -> AsyncIterator[Broker]:
    made = await Broker.connect()
    try:
        yield made
    finally:
        await made.cleanup()


@pytest.fixture(scope="module")
def private_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RabbitMQNode]:
    node = private_rabbitmq(tmp_path_factory.mktemp("rabbitmq"))
    try:
        node.run_now("start")
        yield node
    finally:
        node.run_now("stop")


@pytest.fixture
async def private_broker(private_node: RabbitMQNode) -> AsyncIterator[Broker]:
    await private_node.start()  # a no-op when running; a test that failed may have left it down
    made = await Broker.connect(private_node)
    try:
        yield made
    finally:
        await made.cleanup()
