"""Reconnecting: one line and one report per failed attempt; the loop stops when told."""

from __future__ import annotations

import logging
import random

import pytest
from pydantic import ValidationError

from broadway_py.connectors.toolkit import Link, ReconnectOptions, Stop, keep_trying
from broadway_py.errors import AuthenticationFailed, BrokerUnavailable
from broadway_py.retry import exponential_backoff
from broadway_py.telemetry import Event, ProducerConnected, Telemetry

log = logging.getLogger("tests.toolkit")
FAST = ReconnectOptions(min_delay=0.001, max_delay=0.004, jitter=0)


def recording_link(options: ReconnectOptions = FAST) -> tuple[Link, list[Event]]:
    link = Link(options, log, "thing not reachable")
    telemetry = Telemetry("t")
    events: list[Event] = []
    telemetry.subscribe(events.append)
    link.telemetry = telemetry
    return link, events


def test_delays_come_from_the_one_backoff_formula() -> None:
    options = ReconnectOptions(min_delay=0.5, max_delay=4.0, multiplier=2.0, jitter=0.2)
    for failures in range(1, 8):
        expected = exponential_backoff(failures, 0.5, 4.0, 2.0, 0.2, random.Random(3))
        assert options.delay(failures, random.Random(3)) == expected
    assert ReconnectOptions(jitter=0).delay(3) == 2.0


@pytest.mark.parametrize(
    "bad",
    [{"min_delay": 5, "max_delay": 1}, {"min_delay": 0}, {"max_delay": 8 * 24 * 3600.0}],
)
def test_options_refuse_bad_delays(bad: dict[str, float]) -> None:
    with pytest.raises(ValidationError):
        ReconnectOptions.model_validate(bad)


def test_each_failure_is_one_line_and_one_report(caplog: pytest.LogCaptureFixture) -> None:
    link, events = recording_link(ReconnectOptions(min_delay=1, max_delay=8, jitter=0))
    with caplog.at_level(logging.WARNING, logger="tests.toolkit"):
        assert link.failed(BrokerUnavailable("refused")) == 1.0
        assert link.failed(BrokerUnavailable("refused again")) == 2.0
    assert [r.getMessage() for r in caplog.records] == [
        "thing not reachable (attempt 1 failed): refused; retrying in 1.0s",
        "thing not reachable (attempt 2 failed): refused again; retrying in 2.0s",
    ]
    assert events == [
        ProducerConnected(False, "refused"),
        ProducerConnected(False, "refused again"),
    ]


def test_up_reports_a_change_only_and_counts_from_zero_again() -> None:
    link, events = recording_link()
    link.failed(BrokerUnavailable("x"))
    assert link.up() == 1
    assert link.up() == 0
    assert link.connected
    link.down("lost")
    assert not link.connected
    assert events == [
        ProducerConnected(False, "x"),
        ProducerConnected(True),
        ProducerConnected(False, "lost"),
    ]
    link.failed(BrokerUnavailable("y"))
    assert link.failures == 1, "the count starts again after a success"


async def test_keep_trying_retries_until_an_attempt_works() -> None:
    link, events = recording_link()
    outcomes: list[BaseException | None] = [BrokerUnavailable("a"), BrokerUnavailable("b"), None]

    async def attempt() -> None:
        outcome = outcomes.pop(0)
        if outcome is not None:
            raise outcome
        link.up()

    assert await keep_trying(attempt, link, Stop().pause, 0.001) is True
    assert outcomes == []
    assert [e.connected for e in events if isinstance(e, ProducerConnected)] == [False, False, True]


async def test_keep_trying_gives_up_when_stopped_and_passes_other_errors_on() -> None:
    link, _ = recording_link()
    stop = Stop()
    calls = 0

    async def refused() -> None:
        nonlocal calls
        calls += 1
        stop.set()
        raise BrokerUnavailable("down")

    assert await keep_trying(refused, link, stop.pause, 0.001) is False
    assert calls == 1

    async def fatal() -> None:
        raise AuthenticationFailed("bad password")

    with pytest.raises(AuthenticationFailed):
        await keep_trying(fatal, link, Stop().pause, 0.001)
