"""The parent of ``run --workers N`` over stand-in worker processes (no broker, no HTTP).

Each stand-in is a tiny Python script: ``crash`` exits 3 (once worker 1 is
ready); ``drain``
exits 0 on SIGTERM; ``stubborn`` ignores SIGTERM. A stand-in that waits for
SIGTERM first touches ``ready-<index>``, and ``terminated-<index>`` when the
SIGTERM came, so the test knows what the parent did to it.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from broadway_py.errors import PipelineFailed
from broadway_py.service.restart_policy import RestartPolicy
from broadway_py.service.workers import Workers
from tests.support import wait_until

STAND_IN = """
import pathlib
import signal
import sys
import time

mode, folder, index = sys.argv[1], pathlib.Path(sys.argv[2]), sys.argv[3]
if mode == "crash":
    while not (folder / "ready-1").exists():
        time.sleep(0.01)  # sleep-ok: a stand-in crashes once its sibling can take a SIGTERM
    sys.exit(3)


def on_term(*_):
    (folder / f"terminated-{index}").touch()
    sys.exit(0)


signal.signal(signal.SIGTERM, signal.SIG_IGN if mode == "stubborn" else on_term)
(folder / f"ready-{index}").touch()
while True:
    signal.pause()
"""


def workers(
    folder: Path, modes: Sequence[str], max_restarts: int = 3, drain_timeout: float = 5.0
) -> Workers:
    script = folder / "stand_in.py"
    script.write_text(STAND_IN)

    def command(index: int) -> list[str]:
        return [sys.executable, str(script), modes[index], str(folder), str(index)]

    return Workers(
        "test",
        len(modes),
        command,
        RestartPolicy(max_restarts, 60.0),
        drain_timeout,
        margin=0.3,
    )


async def ready(folder: Path, count: int) -> None:
    await wait_until(
        lambda: all((folder / f"ready-{i}").exists() for i in range(count)),
        10,
        "the stand-ins waiting for SIGTERM",
    )


async def test_stop_forwards_sigterm_and_returns_when_every_worker_exited_0(
    tmp_path: Path,
) -> None:
    parent = workers(tmp_path, ["drain", "drain"])
    running = asyncio.create_task(parent.run(signals=False))
    await ready(tmp_path, 2)
    parent.stop()
    await asyncio.wait_for(running, 10)
    assert (tmp_path / "terminated-0").exists()
    assert (tmp_path / "terminated-1").exists()
    assert [slot.restarts for slot in parent.slots] == [0, 0]


async def test_past_the_restart_intensity_it_stops_the_others_and_fails(tmp_path: Path) -> None:
    parent = workers(tmp_path, ["crash", "drain"], max_restarts=1)
    with pytest.raises(PipelineFailed) as failed:
        await asyncio.wait_for(parent.run(signals=False), 20)
    assert str(failed.value).startswith("worker 0 (pid ")
    assert str(failed.value).endswith(
        ") exited with code 3: more than supervisor.max_restarts (1) worker restarts within "
        "supervisor.max_seconds (60s); stopping the others"
    )
    assert parent.slots[0].restarts == 1  # restarted once, then given up on
    assert (tmp_path / "terminated-1").exists()  # the healthy worker was drained


async def test_a_worker_still_running_after_the_drain_timeout_is_killed(tmp_path: Path) -> None:
    parent = workers(tmp_path, ["drain", "stubborn"], drain_timeout=0.2)
    running = asyncio.create_task(parent.run(signals=False))
    await ready(tmp_path, 2)
    parent.stop()
    with pytest.raises(PipelineFailed) as failed:
        await asyncio.wait_for(running, 10)
    assert str(failed.value) == (
        "worker 1 did not exit within 0.5s (shutdown.drain_timeout 0.2s + 0.3s): killed"
    )
    assert (tmp_path / "terminated-0").exists()
    assert all(slot.pid is None for slot in parent.slots)  # none left running
