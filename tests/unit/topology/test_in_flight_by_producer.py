"""Which producer received each in-flight message, and the oldest of each."""

from __future__ import annotations

from broadway_py import BatcherOptions, Handler, Message, Pipeline, ProducerOptions
from broadway_py.acknowledger import NOOP_ACKNOWLEDGER
from broadway_py.connectors.memory import MemoryBroker, MemoryProducer
from broadway_py.message import BatchInfo
from broadway_py.topology.batcher import BatchAccumulator
from broadway_py.topology.holding import Holding
from broadway_py.topology.in_flight import InFlight
from tests.support import wait_until


def test_the_oldest_of_each_producer_is_looked_for_in_every_place() -> None:
    in_flight = InFlight()
    holding = Holding()
    accumulator = BatchAccumulator(BatcherOptions("b", batch_size=10, batch_timeout=5))
    in_flight.register(0, holding)
    in_flight.register(2, accumulator)
    assert in_flight.oldest_received_at_by_producer() == {}
    first = [Message(1, NOOP_ACKNOWLEDGER), Message(2, NOOP_ACKNOWLEDGER)]
    second = [Message(3, NOOP_ACKNOWLEDGER)]
    later = [Message(4, NOOP_ACKNOWLEDGER)]
    in_flight.receive(first, now=5.0, producer=1)
    in_flight.receive(second, now=7.0, producer=3)
    in_flight.receive(later, now=9.0, producer=1)
    assert [m.received_by for m in first + second + later] == [1, 1, 3, 1]
    holding.chunks = [later, second]
    accumulator.add(first, now=10.0)
    assert in_flight.oldest_received_at_by_producer() == {1: 5.0, 3: 7.0}
    accumulator.take_all()
    assert in_flight.oldest_received_at_by_producer() == {1: 9.0, 3: 7.0}
    holding.clear()
    assert in_flight.oldest_received_at_by_producer() == {}


async def test_a_replaced_message_stays_counted_under_its_producer() -> None:
    """A handler and a transformer that return new messages keep receipt and producer."""
    broker = MemoryBroker()
    orders, refunds = broker.queue("orders"), broker.queue("refunds")

    def renew(message: Message) -> Message:
        return Message(message.data, message.acknowledger, message.ack_ref, message.ack_data)

    class Renewing(Handler):
        def handle_message(self, message: Message) -> Message:
            return renew(message).put_batcher("held")

        def handle_batch(
            self, batcher: str, messages: list[Message], info: BatchInfo
        ) -> list[Message]:
            return messages

    pipeline = Pipeline(
        "renewing",
        Renewing(),
        producers={
            "orders": ProducerOptions(MemoryProducer.factory(orders), transformer=renew),
            "refunds": ProducerOptions(MemoryProducer.factory(refunds)),
        },
        batchers=[BatcherOptions("held", batch_size=100, batch_timeout=60)],
    )
    async with pipeline:
        orders.push_many(range(3))
        refunds.push_many(range(2))
        await wait_until(lambda: pipeline.in_flight.count == 5, 10, "5 messages held")
        await wait_until(
            lambda: len(pipeline.in_flight.oldest_received_at_by_producer()) == 2,
            10,
            "both producers' messages in the batcher",
        )
        oldest = pipeline.in_flight.oldest_received_at_by_producer()
        assert sorted(oldest) == [0, 1]
        assert all(received > 0 for received in oldest.values())
