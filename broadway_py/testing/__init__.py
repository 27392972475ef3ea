"""Test a pipeline file: the same pipeline, fed by an in-memory queue.

::

    from broadway_py.testing import pipeline_from_file

    async def test_an_order_is_saved() -> None:
        async with pipeline_from_file("pipeline.yaml") as pipeline:
            acked = await pipeline.test_message(b'{"id": 1}')
        assert acked.status.ok

The file is loaded as ``broadway-py run`` loads it (``${VAR}`` interpolation
from the environment, ``--set``-style overrides, validation, imports), and
built with everything it says (handler, decode, transformer, processors,
batchers, retry policy, rate limit) except its producer, which is swapped for
a queue of an in-memory broker of its own (with ``producers:``, a queue per
named producer: ``push(data, producer="refunds")``). With pytest (and pytest-asyncio),
the ``broadway_pipeline`` fixture of :mod:`broadway_py.testing.pytest_plugin`
opens files the same way and stops them after the test.
"""

from broadway_py.testing.harness import (
    PipelineFiles,
    PipelineHarness,
    load_for_test,
    load_for_test_by_producer,
    pipeline_from_file,
)

__all__ = [
    "PipelineFiles",
    "PipelineHarness",
    "load_for_test",
    "load_for_test_by_producer",
    "pipeline_from_file",
]
