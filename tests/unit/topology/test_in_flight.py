import asyncio

from broadway_py import BatcherOptions, Message
from broadway_py.acknowledger import NOOP_ACKNOWLEDGER
from broadway_py.topology.batcher import BatchAccumulator
from broadway_py.topology.channel import Channel
from broadway_py.topology.holding import Holding
from broadway_py.topology.in_flight import InFlight


def messages(*data: int) -> list[Message]:
    return [Message(d, NOOP_ACKNOWLEDGER) for d in data]


def test_receive_stamps_and_counts_in_and_settle_counts_out() -> None:
    in_flight = InFlight()
    received = messages(1, 2, 3)
    in_flight.receive(received, now=12.5)
    assert len(in_flight) == 3
    assert [m.received_at for m in received] == [12.5] * 3
    in_flight.settle(2)
    assert len(in_flight) == 1


def test_a_holding_keeps_what_its_stage_has_in_hand() -> None:
    holding = Holding()
    first, second = messages(1, 2), messages(3)
    holding.hold(first)
    assert [m.data for m in holding.held()] == [1, 2]
    holding.chunks = [first, second]
    assert [m.data for m in holding.take_all()] == [1, 2, 3]
    assert list(holding.held()) == []
    holding.hold(second)
    holding.clear()
    assert holding.take_all() == []


def test_take_held_from_takes_the_restarted_groups_only_and_empties_their_places() -> None:
    in_flight = InFlight()
    producer, processor, batch_processor = Holding(), Holding(), Holding()
    accumulator = BatchAccumulator(BatcherOptions("b", batch_size=10, batch_timeout=5))
    in_flight.register(0, producer)
    in_flight.register(1, processor)
    in_flight.register(2, accumulator)
    in_flight.register(2, batch_processor)
    producer.hold(messages(0))
    processor.hold(messages(1))
    accumulator.add(messages(2, 3), now=0.0)
    batch_processor.hold(messages(4))

    taken = in_flight.take_held_from(1)

    assert sorted(m.data for m in taken) == [1, 2, 3, 4]
    assert [m.data for m in producer.held()] == [0]  # group 0 keeps running
    assert list(processor.held()) == list(batch_processor.held()) == []
    assert len(accumulator) == 0
    assert accumulator.next_deadline() is None
    assert in_flight.take_held_from(1) == []


def test_a_message_seen_in_two_places_is_taken_once() -> None:
    in_flight = InFlight()
    shared = messages(7)
    first, second = Holding(), Holding()
    first.hold(shared)
    second.hold(shared)
    in_flight.register(1, first)
    in_flight.register(1, second)
    assert [m.data for m in in_flight.take_held_from(0)] == [7]


async def test_channels_are_places_and_taking_from_them_wakes_blocked_putters() -> None:
    in_flight = InFlight()
    channel: Channel[list[Message]] = Channel(capacity=2, low_water=0)
    in_flight.register(1, channel)
    await channel.put(messages(1, 2))
    blocked = asyncio.create_task(channel.put(messages(3)))
    await asyncio.sleep(0)  # one turn of the loop: the putter reaches its wait
    assert not blocked.done()
    assert sorted(m.data for m in in_flight.take_held_from(1)) == [1, 2]
    await asyncio.wait_for(blocked, 1)
    assert [m.data for m in channel.held()] == [3]


def test_the_oldest_received_at_is_looked_for_in_every_place() -> None:
    in_flight = InFlight()
    holding = Holding()
    accumulator = BatchAccumulator(BatcherOptions("b", batch_size=10, batch_timeout=5))
    in_flight.register(0, holding)
    in_flight.register(2, accumulator)
    assert in_flight.oldest_received_at() is None
    young, old = messages(1), messages(2)
    in_flight.receive(young, now=20.0)
    in_flight.receive(old, now=3.0)
    holding.hold(young)
    accumulator.add(old, now=21.0)
    assert in_flight.oldest_received_at() == 3.0
    accumulator.take_all()
    assert in_flight.oldest_received_at() == 20.0
