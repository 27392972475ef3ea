"""Properties of retry and dead-letter copies."""

from __future__ import annotations

import datetime

from pamqp.commands import Basic

from broadway_py.connectors.rabbitmq.copies import (
    ATTEMPTS_HEADER,
    DEAD_AT_HEADER,
    REASON_HEADER,
    SOURCE_HEADER,
    dead_letter_properties,
    retry_properties,
)

H = "x-broadway-attempt"
STAMP = datetime.datetime(2024, 1, 2, tzinfo=datetime.UTC)


def original() -> Basic.Properties:
    return Basic.Properties(
        content_type="application/json",
        headers={"tenant": "a", H: 2},
        delivery_mode=2,
        correlation_id="c-1",
        expiration="60000",
        message_id="m-1",
        timestamp=STAMP,
        user_id="someone-else",
        app_id="app",
    )


def test_a_retry_copy_carries_the_next_attempt_and_the_delay() -> None:
    source = original()
    copy = retry_properties(source, H, 3, 250)
    assert copy.headers == {"tenant": "a", H: 3}
    assert copy.expiration == "250"
    assert (copy.content_type, copy.delivery_mode, copy.message_id) == (
        "application/json",
        2,
        "m-1",
    )
    assert (copy.correlation_id, copy.timestamp, copy.app_id) == ("c-1", STAMP, "app")
    assert copy.user_id is None
    assert source.headers == {"tenant": "a", H: 2}, "the original is left alone"
    assert retry_properties(source, H, 3, None).expiration is None


def test_a_dead_letter_copy_says_why_and_does_not_expire() -> None:
    copy = dead_letter_properties(
        original(), H, reason="x" * 5000, attempts=3, source_queue="orders", now=1700000000.5
    )
    headers = copy.headers or {}
    assert H not in headers
    assert headers["tenant"] == "a"
    assert headers[REASON_HEADER] == "x" * 1024
    assert (headers[ATTEMPTS_HEADER], headers[SOURCE_HEADER]) == (3, "orders")
    assert headers[DEAD_AT_HEADER] == 1700000000
    assert copy.expiration is None
    assert copy.delivery_mode == 2
