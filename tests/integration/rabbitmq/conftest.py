"""Fixtures of the RabbitMQ integration tests (server from scripts/brokers/rabbitmq.sh)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.integration.rabbitmq.support import Broker


@pytest.fixture
async def broker() -> AsyncIterator[Broker]:
    made = await Broker.connect()
    try:
        yield made
    finally:
        await made.cleanup()
