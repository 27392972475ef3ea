"""Retry and dead-letter headers: written and read back."""

from __future__ import annotations

from broadway_py.connectors.kafka import headers as h


def test_retry_headers_carry_attempt_not_before_and_origin() -> None:
    original = [("trace", b"abc"), (h.ATTEMPT, b"1")]
    written = h.retry_headers(original, "orders", 2, 41, attempt=2, not_before=1700000000.25)
    assert h.read_attempt(written) == 2
    assert h.read_not_before(written) == 1700000000.25
    assert h.find(written, "trace") == b"abc"
    assert h.read_origin(written) == {
        "original_topic": "orders",
        "original_partition": 2,
        "original_offset": 41,
    }
    # Retried again from the retry topic: the first origin is kept, headers not duplicated.
    again = h.retry_headers(written, "g.retry", 0, 7, attempt=3, not_before=1700000001.0)
    assert h.read_attempt(again) == 3
    assert h.read_origin(again)["original_topic"] == "orders"
    assert [k for k, _ in again].count(h.ATTEMPT) == 1
    assert [k for k, _ in again].count(h.ORIGINAL_TOPIC) == 1


def test_dead_letter_headers_carry_the_reason() -> None:
    written = h.dead_letter_headers((), "orders", 0, 5, 3, "ValueError: bad", 1700000000.0)
    assert h.find(written, h.REASON) == b"ValueError: bad"
    assert h.find(written, h.FAILED_AT) == b"1700000000000"
    assert h.read_attempt(written) == 3
    long = h.dead_letter_headers((), "o", 0, 5, 1, "x" * 10000, 0.0)
    assert len(h.find(long, h.REASON) or b"") == h.MAX_REASON_BYTES


def test_missing_or_bad_headers_read_as_defaults() -> None:
    assert h.read_attempt(()) == 1
    assert h.read_attempt([(h.ATTEMPT, b"zero")]) == 1
    assert h.read_attempt([(h.ATTEMPT, b"0")]) == 1
    assert h.read_not_before(()) is None
    assert h.read_not_before([(h.NOT_BEFORE, b"soon")]) is None
    assert h.read_origin([("x", b"y")]) == {}
