"""The heartbeat's schedule, driven by an injected clock."""

from __future__ import annotations

from broadway_py.connectors.sqs.heartbeat import Heartbeat
from broadway_py.connectors.sqs.ledger import Ledger, Received, Stats
from tests.unit.connectors.sqs.fakes import URL, FakeSqs


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def held(sqs: FakeSqs, ledger: Ledger, count: int, deadline: float) -> list[Received]:
    records = []
    for _ in range(count):
        sqs.push("x")
        message = sqs.messages[-1]
        message.visible = False
        message.handles.append(f"{message.id}-r1")
        record = Received(message.id, f"{message.id}-r1", "x", deadline)
        assert ledger.admit(record) == "new"
        records.append(record)
    return records


def heartbeat(sqs: FakeSqs, ledger: Ledger, clock: Clock) -> Heartbeat:
    return Heartbeat(sqs, URL + "source", "source", ledger, Stats(), 10.0, 30, clock)


async def test_extends_only_what_ends_within_the_margin() -> None:
    sqs, ledger, clock = FakeSqs(), Ledger(), Clock()
    soon = held(sqs, ledger, 3, deadline=1008.0)
    later = held(sqs, ledger, 2, deadline=1025.0)
    beat = heartbeat(sqs, ledger, clock)
    assert beat.interval == 1.0  # margin / 2, but every second at most
    assert await beat.tick() == 3
    (call,) = sqs.calls_of("change_message_visibility_batch")
    assert [e["ReceiptHandle"] for e in call["Entries"]] == [r.receipt_handle for r in soon]
    assert {e["VisibilityTimeout"] for e in call["Entries"]} == {30}
    assert [r.deadline for r in soon] == [1030.0] * 3
    assert [r.deadline for r in later] == [1025.0] * 2
    # Nothing is due again until the later ones near their end.
    clock.now = 1010.0
    assert await beat.tick() == 0
    clock.now = 1016.0
    assert await beat.tick() == 2
    assert [r.deadline for r in later] == [1046.0] * 2


async def test_extends_in_calls_of_ten() -> None:
    sqs, ledger, clock = FakeSqs(), Ledger(), Clock()
    held(sqs, ledger, 23, deadline=1001.0)
    assert await heartbeat(sqs, ledger, clock).tick() == 23
    sizes = [len(c["Entries"]) for c in sqs.calls_of("change_message_visibility_batch")]
    assert sorted(sizes) == [3, 10, 10]


async def test_settled_messages_are_not_extended() -> None:
    sqs, ledger, clock = FakeSqs(), Ledger(), Clock()
    records = held(sqs, ledger, 2, deadline=1001.0)
    ledger.settle(records[:1])
    assert await heartbeat(sqs, ledger, clock).tick() == 1
    (call,) = sqs.calls_of("change_message_visibility_batch")
    assert [e["ReceiptHandle"] for e in call["Entries"]] == [records[1].receipt_handle]


async def test_a_message_sqs_refuses_to_extend_is_not_tried_again() -> None:
    sqs, ledger, clock = FakeSqs(), Ledger(), Clock()
    bad, good = held(sqs, ledger, 2, deadline=1001.0)
    sqs.failed_handles.add(bad.receipt_handle)
    beat = heartbeat(sqs, ledger, clock)
    assert await beat.tick() == 1
    assert not bad.extendable
    clock.now = 1025.0
    assert await beat.tick() == 1
    last = sqs.calls_of("change_message_visibility_batch")[-1]
    assert [e["ReceiptHandle"] for e in last["Entries"]] == [good.receipt_handle]


async def test_an_unreachable_endpoint_leaves_deadlines_to_retry_next_tick() -> None:
    from tests.unit.connectors.sqs.fakes import unreachable

    sqs, ledger, clock = FakeSqs(), Ledger(), Clock()
    (record,) = held(sqs, ledger, 1, deadline=1005.0)
    sqs.fail["change_message_visibility_batch"] = [unreachable()]
    beat = heartbeat(sqs, ledger, clock)
    assert await beat.tick() == 0
    assert record.deadline == 1005.0
    assert await beat.tick() == 1
    assert record.deadline == 1030.0


def test_ledger_recognises_messages_it_already_holds_deleted_or_dead() -> None:
    ledger = Ledger(remember=2)
    first = Received("a", "h1", "x", 10.0)
    assert ledger.admit(first) == "new"
    assert ledger.admit(Received("a", "h2", "x", 20.0)) == "held"
    assert (first.receipt_handle, first.deadline) == ("h2", 20.0)
    ledger.settle([first])
    ledger.mark_deleted([first])
    assert ledger.admit(Received("a", "h3", "x", 30.0)) == "deleted"
    ledger.mark_dead([Received("b", "h", "x", 0.0)])
    assert ledger.admit(Received("b", "h4", "x", 30.0)) == "dead"
    # It remembers a bounded number of ids.
    ledger.mark_deleted([Received(i, "h", "x", 0.0) for i in ("c", "d")])
    assert "a" not in ledger.deleted
    assert len(ledger.deleted) == 2
