"""SIGKILL of broadway-py in the middle of a batch, then a restart, on each broker.

Nothing is acknowledged before its outcome is known, so what the killed
process had received but not acknowledged (in processors, in a half-full
batch, in an ack on its way) comes back from the broker to the restarted
process: duplicates, never losses.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fault.adapter import Adapter
from tests.fault.brokers import BROKERS
from tests.fault.scenario import Scenario, run_through

pytestmark = pytest.mark.fault


@pytest.mark.parametrize("shared", BROKERS, indirect=True)
async def test_sigkill_mid_batch_then_restart_loses_nothing(
    shared: Adapter, tmp_path: Path
) -> None:
    scenario = Scenario(shared, tmp_path, "sigkill")
    try:
        first = await scenario.start()
        await scenario.handled(first, shared.count // 3)
        await first.kill()
        killed_at = scenario.records().handled()
        assert killed_at < shared.count, "the workload finished before the kill"
        second = await scenario.start()
        await run_through(scenario, second)
    finally:
        await scenario.close()
