import asyncio

from broadway_py import Decision, Message
from broadway_py.acknowledger import Failed
from broadway_py.connectors.memory import MemoryBroker, MemoryProducer
from broadway_py.telemetry import Telemetry
from tests.support import wait_until


def decided(message: Message, decision: Decision) -> Message:
    message.failed("because")
    message.decision = decision
    return message


async def test_success_drops_and_failures_follow_the_decision() -> None:
    queue = MemoryBroker(record=True).queue("q")
    queue.push_many([b"a", b"b", b"c", b"d"])
    producer = MemoryProducer(queue)
    await producer.start(Telemetry("t"))
    a, b, c, d = await producer.fetch(10)
    await producer.ack(
        producer.lease,
        [a],
        Failed.of(
            [
                decided(b, Decision.retry(0)),
                decided(c, Decision.dead_letter("bad")),
                decided(d, Decision.discard()),
            ]
        ),
    )
    assert queue.stats.acked == 1
    assert [letter.data for letter in queue.dead_letters] == [b"c"]
    assert queue.dead_letters[0].reason == "bad"
    (again,) = await producer.fetch(10)
    assert (again.data, again.attempt) == (b"b", 2)
    assert queue.outcomes is not None
    assert queue.outcomes.by_id == {
        1: ["acked"],
        2: ["retried"],
        3: ["dead_lettered"],
        4: ["discarded"],
    }


async def test_retry_after_a_delay() -> None:
    queue = MemoryBroker().queue("q")
    queue.push(b"a")
    producer = MemoryProducer(queue)
    (message,) = await producer.fetch(1)
    await producer.ack(producer.lease, [], Failed.of([decided(message, Decision.retry(0.05))]))
    assert queue.delayed == 1
    assert queue.ready == 0
    (again,) = await asyncio.wait_for(producer.fetch(1), 2)
    assert again.attempt == 2
    assert queue.delayed == 0


async def test_close_redelivers_what_was_never_acked_and_stale_acks_are_ignored() -> None:
    queue = MemoryBroker().queue("q")
    queue.push_many([1, 2, 3])
    first = MemoryProducer(queue)
    taken = await first.fetch(2)
    await first.close()
    assert queue.stats.redelivered == 2
    second = MemoryProducer(queue)
    again = await second.fetch(10)
    assert [(m.data, m.attempt) for m in again] == [(1, 2), (2, 2), (3, 1)]
    await first.ack(first.lease, taken, [])  # stale: the deliveries were handed back
    assert queue.stats.stale_acks == 2
    assert queue.stats.acked == 0


async def test_fetch_waits_for_a_push_and_stop_fetching_wakes_it() -> None:
    queue = MemoryBroker().queue("q")
    producer = MemoryProducer(queue)
    waiting = asyncio.create_task(producer.fetch(5))
    await asyncio.sleep(0)
    queue.push(b"x")
    assert [m.data for m in await asyncio.wait_for(waiting, 1)] == [b"x"]
    stopped = asyncio.create_task(producer.fetch(5))
    await asyncio.sleep(0)
    producer.stop_fetching()
    assert await asyncio.wait_for(stopped, 1) == []


async def test_wait_idle_returns_when_everything_is_acked() -> None:
    queue = MemoryBroker().queue("q")
    queue.push(b"x")
    producer = MemoryProducer(queue)
    (message,) = await producer.fetch(1)
    idle = asyncio.create_task(queue.wait_idle(2))
    await asyncio.sleep(0)
    assert not idle.done()
    await producer.ack(producer.lease, [message], [])
    await asyncio.wait_for(idle, 1)
    assert queue.is_idle()


async def test_metadata_names_the_queue_and_id() -> None:
    queue = MemoryBroker().queue("orders")
    queue.push(b"x", {"source": "test"})
    (message,) = await MemoryProducer(queue).fetch(1)
    assert message.metadata == {"queue": "orders", "id": 1, "source": "test"}
    await wait_until(lambda: queue.unacked == 1, 1, "one unacked")
