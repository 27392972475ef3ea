"""Fixtures of the RabbitMQ integration tests.

``broker``: the shared server of scripts/brokers/rabbitmq.sh (never stopped).
``private_node`` / ``private_broker``: a node of this test module alone, for
tests that stop and start the server (see private.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.integration.rabbitmq.private import PrivateNode
from tests.integration.rabbitmq.support import Broker


@pytest.fixture
async def broker() -> AsyncIterator[Broker]:
    made = await Broker.connect()
    try:
        yield made
    finally:
        await made.cleanup()


@pytest.fixture(scope="module")
def private_node() -> Iterator[PrivateNode]:
    node = PrivateNode()
    try:
        node.start_now()
        yield node
    finally:
        node.destroy()


@pytest.fixture
async def private_broker(private_node: PrivateNode) -> AsyncIterator[Broker]:
    await private_node.start()  # a no-op when running; a test that failed may have left it down
    made = await Broker.connect(private_node.url, private_node.depths)
    try:
        yield made
    finally:
        await made.cleanup()
