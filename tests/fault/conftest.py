"""Fixtures of the fault suite: a seeded adapter on a shared broker.

The cases that stop a broker or put a proxy in front of it build their own
(test_restart.py, test_proxy.py); the others run on the brokers scripts/brokers
started.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fault.adapter import Adapter
from tests.fault.brokers import BROKERS, shared_adapter


@pytest.fixture(params=BROKERS)
async def shared(request: pytest.FixtureRequest) -> AsyncIterator[Adapter]:
    """A seeded adapter on each shared broker in turn (the test runs once per broker)."""
    adapter = shared_adapter(request.param)
    try:
        await adapter.seed()
        yield adapter
    finally:
        await adapter.close()
