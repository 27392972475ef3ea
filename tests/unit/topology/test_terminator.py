"""The terminator: failed messages reach their acknowledger decided, sorted by decision,
as ``handle_failed`` returned them (Broadway's semantics)."""

from __future__ import annotations

import logging
from collections.abc import Hashable, Sequence
from typing import Any

import pytest

from broadway_py import Decision, Handler, Message, RetryPolicy
from broadway_py.acknowledger import Failed
from broadway_py.telemetry import (
    MAX_FAILURE_REASON,
    MAX_FAILURE_SAMPLES,
    Event,
    FailureSample,
    MessagesAcked,
    MessagesFailed,
    Telemetry,
)
from broadway_py.topology.callbacks import Callbacks
from broadway_py.topology.in_flight import InFlight
from broadway_py.topology.terminator import Terminator

POLICY = RetryPolicy(max_attempts=2, min_delay=0.5, max_delay=0.5, jitter=0)


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[Hashable, list[Message], Failed]] = []

    async def ack(self, ack_ref: Hashable, successful: Sequence[Message], failed: Failed) -> None:
        assert isinstance(failed, Failed), "core hands acknowledgers a Failed, always"
        self.calls.append((ack_ref, list(successful), failed))


class Passing(Handler):
    def handle_message(self, message: Message) -> Message:
        return message


def terminator(handler: Handler) -> tuple[Terminator, InFlight, list[Event]]:
    in_flight = InFlight()
    telemetry = Telemetry("t")
    events: list[Event] = []
    telemetry.subscribe(events.append)
    return Terminator(POLICY, Callbacks.of(handler), in_flight, telemetry), in_flight, events


def received(acker: Recorder, in_flight: InFlight, *attempts: int) -> list[Message]:
    messages = [Message(i, acker, "ref", attempt=a) for i, a in enumerate(attempts)]
    in_flight.receive(messages, now=0.0)
    return messages


async def test_failed_messages_arrive_decided_and_sorted_by_decision() -> None:
    acker = Recorder()
    finisher, in_flight, events = terminator(Passing())
    ok, first, last = received(acker, in_flight, 1, 1, 2)
    await finisher.finish([ok], [first.failed("x"), last.failed("y")], "processor")
    ((ref, successful, failed),) = acker.calls
    assert (ref, successful, list(failed)) == ("ref", [ok], [first, last])
    assert [(m, d) for m, d in failed.retry] == [(first, Decision.retry(0.5, "x"))]
    assert [(m, d) for m, d in failed.dead_letter] == [(last, Decision.dead_letter("y"))]
    assert list(failed.discard) == []
    assert len(in_flight) == 0
    assert events == [
        MessagesFailed(
            "processor",
            2,
            (FailureSample(None, "x", "retry", 0.5), FailureSample(None, "y", "dead_letter", 0.0)),
        ),
        MessagesAcked("processor", 1, 1, 1, 0),
    ]


async def test_successes_alone_get_an_empty_failed() -> None:
    acker = Recorder()
    finisher, in_flight, _ = terminator(Passing())
    messages = received(acker, in_flight, 1, 1)
    await finisher.finish_group(messages, "processor")
    await finisher.finish(messages[:1], [], "processor")
    assert [(len(failed), list(failed.retry)) for _, _, failed in acker.calls] == [(0, []), (0, [])]


class Replacing(Passing):
    """Returns the failed messages reversed, discarding the first and undeciding the second."""

    def handle_failed(self, messages: list[Message]) -> list[Message]:
        messages[0].decision = Decision.discard("harmless")
        messages[1].decision = None
        return list(reversed(messages))


async def test_what_handle_failed_returns_replaces_the_failed_messages() -> None:
    acker = Recorder()
    finisher, in_flight, events = terminator(Replacing())
    first, second = received(acker, in_flight, 1, 1)
    await finisher.finish([], [first.failed("x"), second.failed("y")], "processor")
    ((_, _, failed),) = acker.calls
    assert list(failed) == [second, first], "in the order handle_failed returned them"
    assert [(m, d) for m, d in failed.discard] == [(first, Decision.discard("harmless"))]
    # A decision taken away is the policy's again: never missing, never guessed.
    assert [(m, d) for m, d in failed.retry] == [(second, Decision.retry(0.5, "y"))]
    # The report tells the decisions as handle_failed left them, in its order.
    assert events == [
        MessagesFailed(
            "processor",
            2,
            (FailureSample(None, "y", "retry", 0.5), FailureSample(None, "x", "discard", 0.0)),
        ),
        MessagesAcked("processor", 0, 1, 0, 1),
    ]


class Returning(Passing):
    def __init__(self, result: Any, raising: bool = False) -> None:
        self.result = result
        self.raising = raising

    async def handle_failed(self, messages: list[Message]) -> Any:
        for message in messages:
            message.decision = Decision.discard("changed in place")
        if self.raising:
            raise RuntimeError("handle_failed broke")
        return self.result(messages) if callable(self.result) else self.result


@pytest.mark.parametrize(
    ("result", "raising", "logged"),
    [
        (None, False, None),
        (lambda messages: messages[:1], False, "returned a list of 1 other items"),
        (lambda messages: [*messages, messages[0]], False, "returned a list of 3 other items"),
        (lambda messages: [Message(9, messages[0].acknowledger), messages[1]], False, "other"),
        ("nonsense", False, "returned str"),
        (None, True, "handle_failed raised"),
    ],
)
async def test_a_result_that_is_not_the_same_messages_is_logged_and_the_messages_kept(
    result: Any, raising: bool, logged: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    acker = Recorder()
    finisher, in_flight, _ = terminator(Returning(result, raising))
    first, second = received(acker, in_flight, 1, 1)
    with caplog.at_level(logging.ERROR, logger="broadway_py.pipeline"):
        await finisher.finish([], [first.failed("x"), second.failed("y")], "processor")
    ((_, _, failed),) = acker.calls
    assert list(failed) == [first, second], "each failed message is acked exactly once"
    assert [m for m, _ in failed.discard] == [first, second], "changes in place still count"
    assert len(in_flight) == 0
    if logged is None:
        assert caplog.records == []
    else:
        assert any(logged in r.getMessage() for r in caplog.records), caplog.text


async def test_a_call_with_failures_reports_a_few_of_them_with_their_reasons_cut_short() -> None:
    acker = Recorder()
    finisher, in_flight, events = terminator(Passing())
    messages = [Message(i, acker, "ref", id=f"m{i}") for i in range(MAX_FAILURE_SAMPLES + 3)]
    in_flight.receive(messages, now=0.0)
    long_reason = "word " * (MAX_FAILURE_REASON // 5) + "amqp://user:s3cret-password@host"
    await finisher.finish([], [m.failed(long_reason) for m in messages], "batcher_db_0")
    report = events[0]
    assert isinstance(report, MessagesFailed)
    assert (report.stage, report.count) == ("batcher_db_0", len(messages))
    assert [s.message_id for s in report.samples] == [f"m{i}" for i in range(MAX_FAILURE_SAMPLES)]
    (reason,) = {s.reason for s in report.samples}
    assert len(reason) <= MAX_FAILURE_REASON
    assert reason.endswith("word\u2026")  # cut between words: nothing of the URL is left
    assert "amqp" not in reason
    assert {(s.decision, s.delay) for s in report.samples} == {("retry", 0.5)}


class Unheard(Telemetry):
    """A hub nobody subscribed to, which keeps what it is asked to emit anyway."""

    def __init__(self) -> None:
        super().__init__("quiet")
        self.emitted: list[Event] = []

    def emit(self, event: Event) -> None:
        self.emitted.append(event)


async def test_successes_and_a_hub_nobody_listens_to_get_no_failure_report() -> None:
    acker = Recorder()
    finisher, in_flight, events = terminator(Passing())
    ok = received(acker, in_flight, 1, 1)
    await finisher.finish(ok, [], "processor")
    await finisher.finish_group(received(acker, in_flight, 1), "processor")
    assert not any(isinstance(e, MessagesFailed) for e in events)
    assert len(events) == 2

    hub = Unheard()
    quiet = Terminator(POLICY, Callbacks.of(Passing()), InFlight(), hub)
    assert not hub.enabled
    failing = Message(0, acker, "ref")
    quiet.in_flight.receive([failing], now=0.0)
    await quiet.finish([], [failing.failed("x")], "processor")
    assert hub.emitted == []
    assert acker.calls[-1][2].retry[0][0] is failing  # still acked, decided
