"""Stop: a pause lasts its time unless the signal is set, which ends it at once."""

from __future__ import annotations

import asyncio
import time

from broadway_py.connectors.toolkit import Stop


async def test_a_pause_runs_its_time_while_not_stopped() -> None:
    stop = Stop()
    started = time.monotonic()
    assert await stop.pause(0.05) is False
    assert time.monotonic() - started >= 0.04
    assert not stop


async def test_setting_the_signal_ends_a_pause_early() -> None:
    stop = Stop()
    pausing = asyncio.ensure_future(stop.pause(30))
    await asyncio.sleep(0)  # sleep-ok: one loop turn, so the pause is pending
    stop.set()
    assert await asyncio.wait_for(pausing, 1) is True
    assert stop


async def test_a_pause_once_stopped_or_of_no_time_returns_at_once() -> None:
    stop = Stop()
    assert await asyncio.wait_for(stop.pause(0), 1) is False
    stop.set()
    assert await asyncio.wait_for(stop.pause(30), 1) is True
