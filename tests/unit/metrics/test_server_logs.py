"""The HTTP server's logging: rate-limited lines, and aiohttp's faults turned into short ones."""

from __future__ import annotations

import logging

import pytest
from aiohttp.http_exceptions import BadHttpMethod, LineTooLong

from broadway_py.metrics.rate_limited_log import RateLimitedLog
from broadway_py.metrics.server_log import ServerLog, short_reason


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_one_line_per_interval_then_the_count_of_the_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    clock = Clock()
    limited = RateLimitedLog(logging.getLogger("t.rate"), interval=10, clock=clock)
    assert limited.log(logging.INFO, "bad request %d", 1)
    assert not limited.log(logging.INFO, "bad request %d", 2)
    clock.now += 9.9
    assert not limited.log(logging.INFO, "bad request %d", 3)
    clock.now += 0.1
    assert limited.log(logging.INFO, "bad request %d", 4)
    assert [r.getMessage() for r in caplog.records] == [
        "bad request 1",
        "bad request 4 (2 more like it since the last such line, not logged)",
    ]


def test_nothing_counted_below_the_level(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="t.quiet")
    limited = RateLimitedLog(logging.getLogger("t.quiet"), interval=10, clock=Clock())
    assert not limited.log(logging.INFO, "hidden")
    assert limited.suppressed == 0


def test_a_request_aiohttp_cannot_parse_is_one_short_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    log = ServerLog(logging.getLogger("t.server"))
    error = BadHttpMethod("\x16\x03\x01garbage\r\n" * 50)
    log.exception("Error handling request from %s", "10.0.0.1", exc_info=error)
    log.debug("Error handling request from %s", "10.0.0.2", exc_info=error)
    (record,) = caplog.records
    assert record.levelno == logging.INFO
    assert record.exc_info is None
    message = record.getMessage()
    assert message.startswith("Error handling request from 10.0.0.1: 400 ")
    assert len(message) < 160
    assert "\n" not in message


def test_other_faults_keep_their_traceback_but_are_rate_limited(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    log = ServerLog(logging.getLogger("t.faults"))
    for _ in range(3):
        try:
            raise RuntimeError("a bug in a handler")
        except RuntimeError:
            log.exception("Error handling request from %s", "10.0.0.1")
    (record,) = caplog.records
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None
    assert record.exc_info[0] is RuntimeError


def test_short_reason() -> None:
    assert short_reason(LineTooLong("request header", "8190", "20000")).startswith("400 ")
    long = short_reason(BadHttpMethod("x" * 500))
    assert len(long) <= 84
    assert long.endswith("...")
