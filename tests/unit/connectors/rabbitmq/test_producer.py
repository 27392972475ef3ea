"""The producer's buffer: deliveries become messages; fetch hands out at most the demand."""

from __future__ import annotations

import asyncio

from broadway_py.connectors.rabbitmq import RabbitMQProducer
from broadway_py.telemetry import Telemetry
from tests.unit.connectors.rabbitmq.test_acknowledger import RecordingSession, delivered, options


def producer_with_session() -> tuple[RabbitMQProducer, RecordingSession]:
    producer = RabbitMQProducer(options(), prefetch=10)
    producer._telemetry = Telemetry("t")
    session = RecordingSession(producer.options)
    producer._session = session
    return producer, session


async def test_deliveries_become_messages_with_attempt_and_metadata() -> None:
    producer, session = producer_with_session()
    producer._on_delivery(session, delivered(1))
    producer._on_delivery(session, delivered(2, redelivered=True))
    producer._on_delivery(session, delivered(3, headers={"x-broadway-attempt": 3}))
    first, second, third = await producer.fetch(10)
    assert (first.data, first.attempt, first.ack_ref) == (b"body-1", 1, session)
    assert first.acknowledger is producer.acknowledger
    assert (second.attempt, third.attempt) == (2, 3)
    assert first.metadata["delivery_tag"] == 1
    assert first.metadata["queue"] == "q"
    assert second.metadata["redelivered"] is True
    assert third.metadata["headers"] == {"x-broadway-attempt": 3}
    assert len(session.tracker) == 3


async def test_fetch_hands_out_at_most_the_demand_in_order() -> None:
    producer, session = producer_with_session()
    for tag in range(1, 8):
        producer._on_delivery(session, delivered(tag))
    assert [m.data for m in await producer.fetch(3)] == [b"body-1", b"body-2", b"body-3"]
    assert [m.data for m in await producer.fetch(10)] == [
        b"body-4",
        b"body-5",
        b"body-6",
        b"body-7",
    ]


async def test_a_waiting_fetch_wakes_on_a_delivery_and_on_stop() -> None:
    producer, session = producer_with_session()
    waiting = asyncio.ensure_future(producer.fetch(5))
    await asyncio.sleep(0)
    assert not waiting.done()
    producer._on_delivery(session, delivered(1))
    assert [m.data for m in await asyncio.wait_for(waiting, 1)] == [b"body-1"]
    waiting = asyncio.ensure_future(producer.fetch(5))
    await asyncio.sleep(0)
    session.mark_lost("test")  # no basic.cancel for a lost session
    producer.stop_fetching()
    assert await asyncio.wait_for(waiting, 1) == []


async def test_deliveries_after_a_stop_or_a_loss_are_held_not_handed_out() -> None:
    producer, session = producer_with_session()
    session.mark_lost("connection closed")
    producer._on_delivery(session, delivered(1))
    assert not producer._buffer
    assert 1 in session.tracker, "the broker holds it unacked until the channel closes"
