"""The terminator: failed messages reach their acknowledger decided, sorted by decision,
as ``handle_failed`` returned them (Broadway's semantics)."""

from __future__ import annotations

import logging
from collections.abc import Hashable, Sequence
from typing import Any

import pytest

from broadway_py import Decision, Handler, Message, RetryPolicy
from broadway_py.acknowledger import Failed
from broadway_py.telemetry import Event, MessagesAcked, Telemetry
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
    assert events == [MessagesAcked("processor", 1, 1, 1, 0)]


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
    assert events == [MessagesAcked("processor", 0, 1, 0, 1)]


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
