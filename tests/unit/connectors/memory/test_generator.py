import asyncio

from broadway_py.connectors.memory import GeneratorProducer
from broadway_py.telemetry import Telemetry


async def test_generates_count_messages_then_finishes() -> None:
    producer = GeneratorProducer(count=25, payload=lambda n: n * 2)
    await producer.start(Telemetry("t"))
    first = await producer.fetch(10)
    rest = await producer.fetch(100)
    assert [m.data for m in first + rest] == [n * 2 for n in range(25)]
    assert await producer.fetch(10) == []
    assert producer.counts.generated == 25


async def test_rate_paces_generation() -> None:
    producer = GeneratorProducer(rate=200.0)
    await producer.start(Telemetry("t"))
    loop = asyncio.get_running_loop()
    started = loop.time()
    got = 0
    while got < 40:
        got += len(await producer.fetch(10))
    assert loop.time() - started >= 40 / 200 * 0.9


async def test_stop_fetching_ends_a_paced_wait() -> None:
    producer = GeneratorProducer(rate=0.01)
    await producer.start(Telemetry("t"))
    waiting = asyncio.create_task(producer.fetch(10))
    await asyncio.sleep(0)
    producer.stop_fetching()
    assert await asyncio.wait_for(waiting, 1) == []
