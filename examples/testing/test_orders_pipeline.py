"""Tests of examples/testing/orders_pipeline.yaml: the file as deployed, on an in-memory queue."""

from __future__ import annotations

from pathlib import Path

from broadway_py.testing import PipelineFiles, pipeline_from_file

# Needed from a source checkout only: an installed broadway-py loads the plugin itself.
pytest_plugins = ["broadway_py.testing.pytest_plugin"]


async def test_an_order_is_decoded_transformed_and_batched(
    broadway_pipeline: PipelineFiles,
) -> None:
    pipeline = await broadway_pipeline("orders_pipeline.yaml")
    acked = await pipeline.test_message(b'{"id": 1, "customer": 7, "total": 30}')
    assert acked.status.ok
    assert acked.data == {"id": 1, "customer": 7, "total": 30, "currency": "EUR"}
    assert (acked.batcher, acked.batch_key) == ("db", 7)


async def test_a_payload_that_is_not_json_is_dead_lettered_at_once(
    broadway_pipeline: PipelineFiles,
) -> None:
    pipeline = await broadway_pipeline("orders_pipeline.yaml")
    acked = await pipeline.test_message(b"{oops")
    assert acked.decision is not None
    assert acked.decision.kind == "dead_letter"  # a poison message: never retried


async def test_a_bad_order_is_retried_then_dead_lettered(
    broadway_pipeline: PipelineFiles,
) -> None:
    # Pushed onto the queue, it is delivered as a broker would: three attempts.
    pipeline = await broadway_pipeline("orders_pipeline.yaml", ["retry.min_delay=0.01"])
    sent = pipeline.push(b'{"id": 2, "customer": 7, "total": -5}')
    await pipeline.settle()
    assert pipeline.outcomes(sent) == ["retried", "retried", "dead_lettered"]
    assert pipeline.dead_letters[0].reason == "ValueError: order 2 has a negative total"


async def test_without_the_fixture() -> None:
    path = Path(__file__).parent / "orders_pipeline.yaml"
    async with pipeline_from_file(path) as pipeline:
        (acked,) = await pipeline.test_batch([b'{"id": 3, "customer": 1, "total": 0}'])
    assert acked.status.ok
