"""Tests of examples/testing/intake_pipeline.yaml: two producers, each on its own queue."""

from __future__ import annotations

from broadway_py.testing import PipelineFiles

# Needed from a source checkout only: an installed broadway-py loads the plugin itself.
pytest_plugins = ["broadway_py.testing.pytest_plugin"]


async def test_each_producer_has_its_own_transformer(broadway_pipeline: PipelineFiles) -> None:
    pipeline = await broadway_pipeline("intake_pipeline.yaml")
    order = await pipeline.test_message(b'{"id": 1, "customer": 7, "total": 30}')
    refund = await pipeline.test_message(
        b'{"id": 2, "customer": 7, "total": 30}', producer="refunds"
    )
    assert order.data == {"id": 1, "customer": 7, "total": 30, "currency": "EUR"}
    assert refund.data == {"id": 2, "customer": 7, "total": 30, "kind": "refund"}


async def test_pushed_messages_carry_their_key_through_their_producer(
    broadway_pipeline: PipelineFiles,
) -> None:
    pipeline = await broadway_pipeline("intake_pipeline.yaml", ["retry.max_attempts=1"])
    refund = pipeline.push(
        b'{"id": 3, "customer": 7, "total": 5}', {"key": "7"}, producer="refunds"
    )
    order = pipeline.push(b'{"id": 4, "customer": 7, "total": -5}', {"key": "7"})
    await pipeline.settle()
    assert pipeline.outcomes(refund, producer="refunds") == ["acked"]
    assert pipeline.outcomes(order) == ["dead_lettered"]  # a negative total
    assert pipeline.dead_letters[0].metadata["key"] == "7"
