"""The producer's receive logic against the fake client: demand, drain, duplicates, faults."""

from __future__ import annotations

import asyncio
import time

import pytest

from broadway_py.connectors.sqs import Options, SqsProducer
from broadway_py.errors import DestinationNotFound
from broadway_py.telemetry import Event, ProducerConnected, Telemetry
from tests.support import wait_until
from tests.unit.connectors.sqs.fakes import FakeSqs, client_error, unreachable


def make(sqs: FakeSqs, demand: int = 100, **options: object) -> SqsProducer:
    settings: dict[str, object] = {
        "queue_name": "source",
        "backlog_interval": 0,
        "reconnect": {"min_delay": 0.01, "max_delay": 0.05},
    }
    settings.update(options)
    return SqsProducer(Options(**settings), demand=demand, client_factory=sqs.factory())  # type: ignore[arg-type]


def recording() -> tuple[Telemetry, list[Event]]:
    telemetry = Telemetry("t")
    events: list[Event] = []
    telemetry.subscribe(events.append)
    return telemetry, events


async def test_a_small_demand_receives_only_that_many() -> None:
    sqs = FakeSqs()
    sqs.push(*[f"m{i}" for i in range(20)])
    producer = make(sqs)
    await producer.start(Telemetry("t"))
    messages = await producer.fetch(3)
    assert [m.data for m in messages] == [b"m0", b"m1", b"m2"]
    (call,) = sqs.calls_of("receive_message")
    assert call["MaxNumberOfMessages"] == 3
    await producer.close()


async def test_a_large_demand_keeps_several_receives_in_flight() -> None:
    sqs = FakeSqs()  # empty: every receive long-polls
    producer = make(sqs, wait_time_seconds=20)
    await producer.start(Telemetry("t"))
    fetching = asyncio.create_task(producer.fetch(35))
    await wait_until(lambda: sqs.receives_in_flight == 4, 5, "four receives in flight")
    assert sorted(c["MaxNumberOfMessages"] for c in sqs.calls_of("receive_message")) == [
        5,
        10,
        10,
        10,
    ]
    sqs.push("late")
    assert [m.data for m in await fetching] == [b"late"]
    await producer.close()


async def test_stop_fetching_cancels_a_long_poll_at_once() -> None:
    sqs = FakeSqs()
    producer = make(sqs, wait_time_seconds=20)
    await producer.start(Telemetry("t"))
    fetching = asyncio.create_task(producer.fetch(10))
    await wait_until(lambda: sqs.receives_in_flight == 1, 5, "a long poll")
    started = time.monotonic()
    producer.stop_fetching()
    assert await asyncio.wait_for(fetching, 2) == []
    await producer.close()
    assert time.monotonic() - started < 1.0
    assert sqs.receives_in_flight == 0


async def test_messages_carry_metadata_and_the_receive_count_as_attempt() -> None:
    sqs = FakeSqs(queues=("source.fifo",))
    sqs.push("a", group="g1")
    sqs.messages[0].receives = 2
    producer = make(sqs, queue_name="source.fifo")
    await producer.start(Telemetry("t"))
    (message,) = await producer.fetch(10)
    assert message.attempt == 3
    assert message.metadata["message_group_id"] == "g1"
    assert message.metadata["queue"] == "source.fifo"
    assert message.metadata["message_id"] == sqs.messages[0].id
    assert message.acknowledger is producer.acknowledger
    await producer.close()


async def test_a_duplicate_of_a_held_message_is_dropped_and_its_newest_handle_kept() -> None:
    sqs = FakeSqs()
    sqs.push("a")
    sqs.duplicate_next = True
    producer = make(sqs)
    await producer.start(Telemetry("t"))
    (message,) = await producer.fetch(10)
    assert producer.stats.duplicates == 1
    assert message.ack_data.receipt_handle.endswith("-dup")
    await message.acknowledger.ack(None, [message], [])
    (delete,) = sqs.calls_of("delete_message_batch")
    assert delete["Entries"][0]["ReceiptHandle"].endswith("-dup")
    await producer.close()


async def test_a_redelivered_deleted_message_is_deleted_again_not_handled() -> None:
    sqs = FakeSqs()
    sqs.push("a")
    producer = make(sqs)
    await producer.start(Telemetry("t"))
    (message,) = await producer.fetch(10)
    producer.ledger.settle([message.ack_data])
    producer.ledger.mark_deleted([message.ack_data])
    sqs.messages[0].visible = True  # as if its delete had not taken
    sqs.push("b")
    (other,) = await producer.fetch(10)
    assert other.data == b"b"
    assert producer.stats.redeliveries_deleted == 1
    await wait_until(lambda: len(sqs.messages) == 1, 5, "the redelivered copy deleted")
    await producer.close()


async def test_close_releases_what_was_received_and_not_acknowledged() -> None:
    sqs = FakeSqs()
    sqs.push(*[f"m{i}" for i in range(6)])
    producer = make(sqs)
    await producer.start(Telemetry("t"))
    messages = await producer.fetch(4)
    await producer.acknowledger.ack(None, messages[:1], [])  # type: ignore[union-attr]
    await producer.close()
    (release,) = sqs.calls_of("change_message_visibility_batch")
    assert {e["VisibilityTimeout"] for e in release["Entries"]} == {0}
    assert len(release["Entries"]) == 3
    assert producer.stats.released == 3
    assert sum(m.visible for m in sqs.messages) == 5


async def test_close_keeps_messages_invisible_without_release_on_drain() -> None:
    sqs = FakeSqs()
    sqs.push("a", "b")
    producer = make(sqs, release_on_drain=False)
    await producer.start(Telemetry("t"))
    assert len(await producer.fetch(2)) == 2
    await producer.close()
    assert sqs.calls_of("change_message_visibility_batch") == []


async def test_a_missing_queue_fails_start_naming_it() -> None:
    sqs = FakeSqs(queues=())
    producer = make(sqs, queue_name="orders")
    with pytest.raises(DestinationNotFound, match="'orders' does not exist"):
        await producer.start(Telemetry("t"))


async def test_a_missing_dead_letter_queue_fails_start_naming_it() -> None:
    sqs = FakeSqs(queues=("source",))
    producer = make(sqs, dead_letter="orders-dlq")
    with pytest.raises(DestinationNotFound, match="'orders-dlq'"):
        await producer.start(Telemetry("t"))


async def test_redrive_without_a_redrive_policy_is_a_configuration_error() -> None:
    from broadway_py.errors import ConfigurationError

    producer = make(FakeSqs(), dead_letter="redrive")
    with pytest.raises(ConfigurationError, match="RedrivePolicy"):
        await producer.start(Telemetry("t"))


async def test_unreachable_at_start_retries_in_the_background() -> None:
    sqs = FakeSqs()
    sqs.fail["get_queue_url"] = [unreachable(), unreachable(), unreachable()]
    sqs.push("a")
    telemetry, events = recording()
    producer = make(sqs)
    await producer.start(telemetry)  # does not raise
    assert not producer.connected
    (message,) = await asyncio.wait_for(producer.fetch(10), 5)
    assert message.data == b"a"
    states = [e.connected for e in events if isinstance(e, ProducerConnected)]
    assert states == [False, False, False, True]
    await producer.close()


async def test_a_receive_that_fails_is_retried_with_backoff() -> None:
    sqs = FakeSqs()
    sqs.fail["receive_message"] = [unreachable(), client_error("ServiceUnavailable", "", 503)]
    sqs.push("a")
    telemetry, events = recording()
    producer = make(sqs)
    await producer.start(telemetry)
    (message,) = await asyncio.wait_for(producer.fetch(10), 5)
    assert message.data == b"a"
    states = [e.connected for e in events if isinstance(e, ProducerConnected)]
    assert states == [True, False, False, True]
    await producer.close()


async def test_a_queue_deleted_later_fails_fetch() -> None:
    sqs = FakeSqs()
    producer = make(sqs)
    await producer.start(Telemetry("t"))
    sqs.queues.clear()
    with pytest.raises(DestinationNotFound):
        await asyncio.wait_for(producer.fetch(10), 5)
    await producer.close()


async def test_the_queue_depth_is_reported_as_backlog() -> None:
    from broadway_py.telemetry import BacklogReported

    sqs = FakeSqs()
    sqs.push("a", "b", "c")
    telemetry, events = recording()
    producer = make(sqs, backlog_interval=0.01)
    await producer.start(telemetry)
    await wait_until(
        lambda: any(isinstance(e, BacklogReported) for e in events), 5, "a backlog report"
    )
    report = next(e for e in events if isinstance(e, BacklogReported))
    assert (report.source, report.messages) == ("source", 3)
    await producer.close()
