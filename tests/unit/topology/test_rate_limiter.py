from broadway_py.topology.rate_limiter import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_grants_the_allowance_per_interval() -> None:
    clock = Clock()
    limiter = RateLimiter(10, 1.0, clock)
    assert limiter.try_acquire(7) == 7
    assert limiter.try_acquire(7) == 3
    assert limiter.try_acquire(1) == 0
    clock.now = 1.0
    assert limiter.try_acquire(20) == 10


def test_unused_grants_come_back() -> None:
    limiter = RateLimiter(10, 1.0, Clock())
    assert limiter.try_acquire(10) == 10
    limiter.give_back(4)
    assert limiter.try_acquire(10) == 4


def test_updates_apply_while_running() -> None:
    clock = Clock()
    limiter = RateLimiter(10, 1.0, clock)
    limiter.try_acquire(5)
    limiter.update(allowed_messages=20)
    assert limiter.try_acquire(100) == 15
    limiter.update(interval=5.0)
    clock.now = 0.5
    assert limiter.try_acquire(100) == 20
    clock.now = 4.0
    assert limiter.try_acquire(1) == 0


async def test_close_wakes_a_waiting_acquire_with_nothing_granted() -> None:
    import asyncio

    limiter = RateLimiter(1, 3600)
    assert await limiter.acquire(5) == (1, 0.0)
    waiting = asyncio.create_task(limiter.acquire(5))
    await asyncio.sleep(0)
    assert not waiting.done()
    limiter.close()
    granted, _ = await asyncio.wait_for(waiting, 1)
    assert granted == 0
