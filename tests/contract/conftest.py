"""Runs the contract suite once per connector harness found beside it."""

from __future__ import annotations

import importlib
import pathlib
from collections.abc import AsyncIterator

import pytest

from tests.contract.harness import ConnectorHarness

HERE = pathlib.Path(__file__).parent
NAMES = sorted(p.stem.removeprefix("harness_") for p in HERE.glob("harness_*.py"))
MARKS = {"kafka": pytest.mark.kafka, "rabbitmq": pytest.mark.rabbitmq, "sqs": pytest.mark.sqs}


@pytest.fixture(params=[pytest.param(n, marks=MARKS.get(n, ())) for n in NAMES])
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[ConnectorHarness]:
    module = importlib.import_module(f"tests.contract.harness_{request.param}")
    made: ConnectorHarness = module.HARNESS()
    await made.setup()
    try:
        yield made
    finally:
        await made.teardown()
