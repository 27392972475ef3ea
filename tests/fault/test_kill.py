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
from tests.fault.scenario import Scenario, interrupted
from tests.fault.service import Service

pytestmark = pytest.mark.fault


async def test_sigkill_mid_batch_then_restart_loses_nothing(
    shared: Adapter, tmp_path: Path
) -> None:
    async def kill(scenario: Scenario, first: Service) -> Service:
        await first.kill()
        killed_at = scenario.records().handled()
        assert killed_at < shared.count, "the workload finished before the kill"
        return await scenario.start()

    await interrupted(shared, tmp_path, "sigkill", kill, at=shared.count // 3)
