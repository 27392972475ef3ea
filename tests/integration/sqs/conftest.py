"""Fixtures of the SQS integration tests (moto in server mode, see scripts/brokers/sqs.sh)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
from aiobotocore.session import get_session  # type: ignore[import-untyped, unused-ignore]

from tests.integration.sqs.helpers import ENDPOINT, REGION, Client, Queues


@pytest.fixture(autouse=True)
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto takes any credentials; the connector reads them from the standard chain."""
    for name, default in (
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", REGION),
    ):
        monkeypatch.setenv(name, os.environ.get(name, default))


@pytest.fixture
async def sqs(aws_credentials: None) -> AsyncIterator[Client]:
    async with get_session().create_client(
        "sqs", region_name=REGION, endpoint_url=ENDPOINT
    ) as client:
        yield client


@pytest.fixture
async def queues(sqs: Client) -> AsyncIterator[Queues]:
    made = Queues(sqs)
    try:
        yield made
    finally:
        await made.delete_all()
