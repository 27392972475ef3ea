"""DemandBuffer and Waiter: at most the demand, oldest first; a wake or a stop ends a wait."""

from __future__ import annotations

import asyncio

import pytest

from broadway_py.acknowledger import NOOP_ACKNOWLEDGER
from broadway_py.connectors.toolkit import DemandBuffer, Waiter, resolve
from broadway_py.message import Message


def filled(count: int) -> DemandBuffer:
    buffer = DemandBuffer()
    for n in range(count):
        buffer.append(Message(n, NOOP_ACKNOWLEDGER))
    return buffer


def test_take_hands_out_at_most_the_demand_oldest_first() -> None:
    buffer = filled(5)
    assert [m.data for m in buffer.take(2)] == [0, 1]
    assert len(buffer) == 3
    assert [m.data for m in buffer.take(10)] == [2, 3, 4]
    assert not buffer
    assert buffer.take(3) == []


def test_clear_forgets_and_counts_what_was_not_handed_out() -> None:
    buffer = filled(4)
    buffer.take(1)
    assert buffer.clear() == 3
    assert len(buffer) == 0


async def test_a_wait_ends_on_wake() -> None:
    buffer = DemandBuffer()
    waiting = asyncio.ensure_future(buffer.wait())
    await asyncio.sleep(0)  # sleep-ok: one loop turn, so the wait is pending
    assert not waiting.done()
    buffer.append(Message("a", NOOP_ACKNOWLEDGER))
    buffer.wake()
    await asyncio.wait_for(waiting, 1)
    assert [m.data for m in buffer.take(5)] == ["a"]


async def test_stop_ends_the_wait_and_marks_the_buffer_stopped() -> None:
    buffer = DemandBuffer()
    waiting = asyncio.ensure_future(buffer.wait())
    await asyncio.sleep(0)  # sleep-ok: one loop turn, so the wait is pending
    assert buffer.stop() is True
    await asyncio.wait_for(waiting, 1)
    assert buffer.stopped
    assert buffer.stop() is False, "a second stop is no news"


async def test_a_wake_with_nobody_waiting_is_not_remembered() -> None:
    waiter = Waiter()
    waiter.wake()
    waiting = asyncio.ensure_future(waiter.wait())
    await asyncio.sleep(0)  # sleep-ok: one loop turn, so the wait is pending
    assert not waiting.done()
    waiter.wake()
    await asyncio.wait_for(waiting, 1)


async def test_resolve_sets_a_result_once_and_ignores_none_and_done() -> None:
    future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    resolve(future, 1)
    resolve(future, 2)  # a second wake does not raise InvalidStateError
    assert future.result() == 1
    resolve(None, 3)
    cancelled: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    cancelled.cancel()
    resolve(cancelled, 4)
    with pytest.raises(asyncio.CancelledError):
        cancelled.result()
