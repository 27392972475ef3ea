"""The ``broadway_pipeline`` pytest fixture: pipeline files under test, stopped after it.

Installed with broadway-py, pytest loads this plugin by itself (the
``pytest11`` entry point); from a source checkout that is not installed, name
it in the root ``conftest.py`` or the test module:
``pytest_plugins = ["broadway_py.testing.pytest_plugin"]``. The fixture is
async: it needs pytest-asyncio.

::

    async def test_an_order_is_saved(broadway_pipeline) -> None:
        pipeline = await broadway_pipeline("pipeline.yaml", ["retry.min_delay=0"])
        acked = await pipeline.test_message(b'{"id": 1}')
        assert acked.status.ok

A relative path is read from the test module's directory. Each file opened
is started at once and stopped (drained) when the test ends.

Importing this module is cheap (pytest imports it on every run): the config
layer is imported only when a test opens a file.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from broadway_py.testing.harness import PipelineFiles

try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - the fixture says what is missing
    pytest_asyncio = None  # type: ignore[assignment]


if pytest_asyncio is not None:

    @pytest_asyncio.fixture
    async def broadway_pipeline(request: pytest.FixtureRequest) -> AsyncIterator[PipelineFiles]:
        """Opens pipeline files, fed by in-memory queues; stops them after the test."""
        from broadway_py.testing.harness import PipelineFiles

        async with contextlib.AsyncExitStack() as stack:
            yield PipelineFiles(stack, request.path.parent)

else:  # pragma: no cover - only without pytest-asyncio

    @pytest.fixture
    def broadway_pipeline() -> None:
        """Unavailable: the fixture is async and needs pytest-asyncio."""
        pytest.fail("the broadway_pipeline fixture is async: pip install pytest-asyncio")
