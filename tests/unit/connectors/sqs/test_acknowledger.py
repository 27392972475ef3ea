"""Outcomes carried out in SQS's terms, against the fake client."""

from __future__ import annotations

import asyncio

from broadway_py.acknowledger import Failed
from broadway_py.connectors.sqs.acknowledger import SqsAcknowledger, visibility_seconds
from broadway_py.connectors.sqs.dead_letter import (
    REASON_ATTRIBUTE,
    SOURCE_ATTRIBUTE,
    DeadLetterPlan,
    DeadLetterQueue,
    dead_letter_entry,
)
from broadway_py.connectors.sqs.ledger import Ledger, Received, Stats
from broadway_py.message import Message
from broadway_py.retry import Decision
from broadway_py.telemetry import AcksDropped, Event, Telemetry
from tests.unit.connectors.sqs.fakes import URL, FakeSqs, client_error, unreachable

DLQ = DeadLetterPlan(DeadLetterQueue(URL + "dlq", "dlq", False), False, 0)


def setup(
    count: int, plan: DeadLetterPlan = DLQ
) -> tuple[FakeSqs, SqsAcknowledger, list[Message], list[Event]]:
    sqs = FakeSqs()
    ledger = Ledger()
    telemetry = Telemetry("t")
    events: list[Event] = []
    telemetry.subscribe(events.append)
    loop = asyncio.get_running_loop()
    acker = SqsAcknowledger(
        sqs, URL + "source", "source", plan, ledger, Stats(), telemetry, loop.time
    )
    messages = []
    for i in range(count):
        sqs.push(f"body-{i}")
        fake = sqs.messages[-1]
        fake.visible = False
        fake.receives = 1
        fake.handles.append(f"{fake.id}-r1")
        record = Received(fake.id, f"{fake.id}-r1", fake.body, loop.time() + 30, {}, None, 1)
        ledger.admit(record)
        messages.append(Message(fake.body.encode(), acknowledger=acker, ack_data=record))
    return sqs, acker, messages, events


def failed(message: Message, decision: Decision) -> Message:
    message.failed("boom")
    message.decision = decision
    return message


async def test_successes_are_deleted_ten_per_call() -> None:
    sqs, acker, messages, _ = setup(25)
    await acker.ack(None, messages, [])
    sizes = sorted(len(c["Entries"]) for c in sqs.calls_of("delete_message_batch"))
    assert sizes == [5, 10, 10]
    assert sqs.messages == []
    assert len(acker.ledger) == 0
    assert acker.stats.deleted == 25


async def test_retry_changes_visibility_to_the_delay_in_whole_seconds() -> None:
    sqs, acker, messages, _ = setup(2)
    await acker.ack(
        None,
        [],
        Failed.of(
            [failed(messages[0], Decision.retry(1.2)), failed(messages[1], Decision.retry(0))]
        ),
    )
    (call,) = sqs.calls_of("change_message_visibility_batch")
    assert [e["VisibilityTimeout"] for e in call["Entries"]] == [2, 0]
    assert len(sqs.messages) == 2
    assert sqs.calls_of("delete_message_batch") == []
    assert visibility_seconds(10**9) == 43_200


async def test_dead_letter_sends_the_reason_then_deletes() -> None:
    sqs, acker, messages, _ = setup(3)
    messages[0].ack_data.message_attributes = {"trace": {"DataType": "String", "StringValue": "t1"}}
    await acker.ack(
        None,
        [messages[2]],
        Failed.of(
            [
                failed(messages[0], Decision.dead_letter("ValueError: bad")),
                failed(messages[1], Decision.discard()),
            ]
        ),
    )
    (sent,) = sqs.sent["dlq"]
    assert sent["MessageBody"] == "body-0"
    attributes = sent["MessageAttributes"]
    assert attributes[REASON_ATTRIBUTE]["StringValue"] == "ValueError: bad"
    assert attributes[SOURCE_ATTRIBUTE]["StringValue"] == "source"
    assert attributes["trace"] == {"DataType": "String", "StringValue": "t1"}
    assert sqs.messages == []  # dead-lettered, discarded and successful: all deleted
    assert acker.stats.dead_lettered == 1


async def test_redrive_releases_the_message_and_remembers_it_is_dead() -> None:
    sqs, acker, messages, _ = setup(1, DeadLetterPlan(None, True, 30))
    await acker.ack(None, [], Failed.of([failed(messages[0], Decision.dead_letter("x"))]))
    (call,) = sqs.calls_of("change_message_visibility_batch")
    assert call["Entries"][0]["VisibilityTimeout"] == 0
    assert messages[0].ack_data.message_id in acker.ledger.dead
    assert "dlq" not in sqs.sent


async def test_without_a_dead_letter_queue_the_message_waits_out_its_visibility() -> None:
    sqs, acker, messages, _ = setup(1, DeadLetterPlan(None, False, 45))
    await acker.ack(None, [], Failed.of([failed(messages[0], Decision.dead_letter("x"))]))
    (call,) = sqs.calls_of("change_message_visibility_batch")
    assert call["Entries"][0]["VisibilityTimeout"] == 45
    assert len(sqs.messages) == 1


async def test_entries_sqs_refuses_are_reported_as_dropped() -> None:
    sqs, acker, messages, events = setup(4)
    sqs.failed_handles.add(messages[1].ack_data.receipt_handle)
    await acker.ack(None, messages, [])
    dropped = [e for e in events if isinstance(e, AcksDropped)]
    assert [d.count for d in dropped] == [1]
    assert "ReceiptHandleIsInvalid" in dropped[0].reason
    assert len(sqs.messages) == 1
    assert acker.stats.deleted == 3


async def test_an_unreachable_endpoint_is_retried_while_the_messages_stay_invisible() -> None:
    sqs, acker, messages, events = setup(3)
    sqs.fail["delete_message_batch"] = [unreachable(), unreachable()]
    await acker.ack(None, messages, [])
    assert len(sqs.calls_of("delete_message_batch")) == 3
    assert sqs.messages == []
    assert not [e for e in events if isinstance(e, AcksDropped)]


async def test_a_call_that_cannot_succeed_is_not_retried() -> None:
    sqs, acker, messages, events = setup(2)
    sqs.fail["delete_message_batch"] = [client_error("AccessDenied", "no", 403)]
    await acker.ack(None, messages, [])
    assert len(sqs.calls_of("delete_message_batch")) == 1
    assert [e.count for e in events if isinstance(e, AcksDropped)] == [2]


async def test_past_the_visibility_deadline_an_outage_gives_up() -> None:
    sqs, acker, messages, events = setup(1)
    messages[0].ack_data.deadline = asyncio.get_running_loop().time()  # already visible again
    sqs.fail["delete_message_batch"] = [unreachable()]
    await acker.ack(None, messages, [])
    assert len(sqs.calls_of("delete_message_batch")) == 1
    assert [e.count for e in events if isinstance(e, AcksDropped)] == [1]


def test_dead_letter_entries_keep_within_ten_attributes_and_fit_fifo_queues() -> None:
    record = Received(
        "id-1",
        "h",
        "body",
        0.0,
        {f"a{i}": {"DataType": "String", "StringValue": str(i)} for i in range(12)},
        "group-7",
        3,
    )
    entry = dead_letter_entry("0", record, "", "orders.fifo", fifo=True)
    assert len(entry["MessageAttributes"]) == 10
    assert entry["MessageAttributes"][REASON_ATTRIBUTE]["StringValue"] == "unknown"
    assert entry["MessageAttributes"]["broadway.attempt"] == {
        "DataType": "Number",
        "StringValue": "3",
    }
    assert entry["MessageGroupId"] == "group-7"
    assert entry["MessageDeduplicationId"] == "id-1"
    assert "MessageGroupId" not in dead_letter_entry("0", record, "r", "q", fifo=False)


def _split(event: AcksDropped) -> tuple[int, int, int, int, int]:
    return (
        event.count,
        event.successful,
        event.retried,
        event.dead_lettered,
        event.discarded,
    )


async def test_refused_deletes_and_visibility_changes_are_split_by_outcome() -> None:
    sqs, acker, messages, events = setup(8, DeadLetterPlan(None, True, 30))
    for index in (0, 2, 3, 5, 7):
        sqs.failed_handles.add(messages[index].ack_data.receipt_handle)
    await acker.ack(
        None,
        messages[:2],
        Failed.of(
            [
                failed(messages[2], Decision.discard()),
                failed(messages[3], Decision.retry(5)),
                failed(messages[4], Decision.retry(5)),
                failed(messages[5], Decision.dead_letter("x")),  # left to the redrive policy
                failed(messages[6], Decision.discard()),
                failed(messages[7], Decision.discard()),
            ]
        ),
    )
    dropped = sorted(
        (e.reason.split(" ")[3], _split(e)) for e in events if isinstance(e, AcksDropped)
    )
    # count, successful, retried, dead_lettered, discarded
    assert dropped == [("change", (2, 0, 1, 1, 0)), ("delete", (3, 1, 0, 0, 2))]
    assert acker.stats.dropped == 5


async def test_a_failed_dead_letter_send_is_dropped_as_dead_lettered() -> None:
    sqs, acker, messages, events = setup(2)
    sqs.fail["send_message_batch"] = [client_error("AccessDenied", "no", 403)]
    await acker.ack(
        None, [messages[0]], Failed.of([failed(messages[1], Decision.dead_letter("x"))])
    )
    (event,) = [e for e in events if isinstance(e, AcksDropped)]
    assert "dead-letter to dlq" in event.reason
    assert _split(event) == (1, 0, 0, 1, 0)
    assert len(sqs.messages) == 1  # not deleted: SQS redelivers it


async def test_a_dead_letter_sent_but_not_deleted_is_deleted_when_it_comes_back() -> None:
    sqs, acker, messages, events = setup(1)
    record = messages[0].ack_data
    sqs.failed_handles.add(record.receipt_handle)
    await acker.ack(None, [], Failed.of([failed(messages[0], Decision.dead_letter("x"))]))
    assert len(sqs.sent["dlq"]) == 1
    assert acker.stats.dead_lettered == 1
    # The copy is in the dead-letter queue: that outcome was carried out, nothing dropped.
    assert not [e for e in events if isinstance(e, AcksDropped)]
    # SQS redelivers it: the ledger tells the producer to delete it, not to handle it again.
    again = Received(record.message_id, "handle-2", record.body, record.deadline)
    assert acker.ledger.admit(again) == "deleted"


async def test_a_failed_release_is_dropped_without_an_outcome() -> None:
    sqs, acker, messages, events = setup(2)
    sqs.failed_handles.add(messages[1].ack_data.receipt_handle)
    await acker.change_visibility([(m.ack_data, 0) for m in messages])
    (event,) = [e for e in events if isinstance(e, AcksDropped)]
    assert _split(event) == (1, 0, 0, 0, 0)
