"""SIGTERM under load, on each broker: exit 0 within the drain timeout, the rest back on the broker.

The process is stopped while most of the workload is still to do. It must
drain (finish and acknowledge what is in flight) and exit 0 before
``shutdown.drain_timeout``; what it did not handle must still be on the
broker, counted there, and a second process must finish it without a loss.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fault.adapter import Adapter
from tests.fault.scenario import Scenario, interrupted
from tests.fault.service import DRAIN_TIMEOUT, Service
from tests.fault.workload import expected_ok

pytestmark = pytest.mark.fault


async def test_sigterm_under_load_drains_and_returns_the_rest(
    shared: Adapter, tmp_path: Path
) -> None:
    async def terminate(scenario: Scenario, first: Service) -> Service:
        took = await scenario.stop(first)
        assert took < DRAIN_TIMEOUT, f"drain took {took:.1f}s"
        records = scenario.records()
        unhandled = expected_ok(shared.count) - set(records.ok)
        assert unhandled, "the workload finished before SIGTERM"
        back = await shared.left()
        print(
            f"{scenario.case}: drained in {took:.1f}s; {len(unhandled)} ids unhandled, {back} back"
        )
        # Every id not yet handled is still on the broker (dead letters to come are too).
        assert back >= len(unhandled), f"{len(unhandled)} ids unhandled but {back} on the broker"
        return await scenario.start()

    await interrupted(shared, tmp_path, "sigterm", terminate, at=shared.count // 4)
