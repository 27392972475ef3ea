import asyncio

from broadway_py.topology.channel import Channel, Room


async def test_put_waits_while_full_until_low_water() -> None:
    channel: Channel[list[int]] = Channel(capacity=10, low_water=4)
    await channel.put([1] * 6)
    blocked = asyncio.create_task(channel.put([2] * 6))
    await asyncio.sleep(0)
    assert not blocked.done()
    assert len(channel) == 6
    assert await channel.get() == [1] * 6  # 0 left: at or below low water
    await asyncio.wait_for(blocked, 1)
    assert len(channel) == 6


async def test_an_oversized_chunk_enters_an_empty_channel() -> None:
    channel: Channel[list[int]] = Channel(capacity=2)
    await asyncio.wait_for(channel.put([0] * 5), 1)
    assert len(channel) == 5


async def test_get_returns_none_once_closed_and_empty() -> None:
    channel: Channel[list[int]] = Channel(capacity=10)
    await channel.put([1])
    channel.close()
    assert await channel.get() == [1]
    assert await channel.get() is None


async def test_close_wakes_a_waiting_getter() -> None:
    channel: Channel[list[int]] = Channel(capacity=10)
    getter = asyncio.create_task(channel.get())
    await asyncio.sleep(0)
    channel.close()
    assert await asyncio.wait_for(getter, 1) is None


async def test_get_gives_up_at_its_deadline() -> None:
    channel: Channel[list[int]] = Channel(capacity=10)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 0.05
    assert await asyncio.wait_for(channel.get(deadline), 1) is None
    assert loop.time() >= deadline


async def test_clear_empties_and_releases_putters() -> None:
    channel: Channel[list[int]] = Channel(capacity=3, low_water=0)
    await channel.put([1, 2, 3])
    blocked = asyncio.create_task(channel.put([4]))
    await asyncio.sleep(0)
    assert channel.clear() == [[1, 2, 3]]
    await asyncio.wait_for(blocked, 1)
    assert await channel.get() == [4]


async def test_many_getters_share_the_items() -> None:
    channel: Channel[list[int]] = Channel(capacity=100)
    getters = [asyncio.create_task(channel.get()) for _ in range(3)]
    await asyncio.sleep(0)
    for value in range(3):
        await channel.put([value])
    results = await asyncio.wait_for(asyncio.gather(*getters), 1)
    assert sorted(r[0] for r in results if r) == [0, 1, 2]


async def test_channels_sharing_a_room_wait_only_when_full_together() -> None:
    room = Room(10, low_water=4)
    hot: Channel[list[int]] = Channel(10, room=room)
    cold: Channel[list[int]] = Channel(10, room=room)
    await hot.put([1] * 8)  # one channel may hold most of the room
    await asyncio.wait_for(cold.put([2]), 1)  # and the other still takes a chunk
    assert (len(hot), len(cold), room.size) == (8, 1, 9)
    blocked = asyncio.create_task(cold.put([3] * 2))  # together over 10: wait
    await asyncio.sleep(0)
    assert not blocked.done()
    assert await hot.get() == [1] * 8  # the room falls to 1, below its low water
    await asyncio.wait_for(blocked, 1)
    assert (len(hot), len(cold), room.size) == (0, 3, 3)
    assert cold.clear() == [[2], [3, 3]]
    assert room.size == 0
