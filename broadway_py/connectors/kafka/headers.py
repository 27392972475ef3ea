"""The record headers the connector reads and writes. Pure; no I/O.

A retried message is re-published to the retry topic with
``broadway-attempt`` (the attempt number of its next delivery) and
``broadway-not-before`` (unix time in milliseconds before which the pipeline
holds it). A dead letter carries ``broadway-reason`` and
``broadway-failed-at``. Both carry where the message first came from
(``broadway-original-topic`` / ``-partition`` / ``-offset``), and keep the
original record's own headers, key and value.

A message's id (``message.id``) is ``"<topic>/<partition>/<offset>"`` of the
record it first came from: of the record itself, or, for a retry or dead-letter
copy, of the origin those headers carry, so every delivery of a message has
the same id however often it was re-published (:func:`message_id`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

Headers = Sequence[tuple[str, bytes]]

ATTEMPT = "broadway-attempt"
NOT_BEFORE = "broadway-not-before"
REASON = "broadway-reason"
FAILED_AT = "broadway-failed-at"
ORIGINAL_TOPIC = "broadway-original-topic"
ORIGINAL_PARTITION = "broadway-original-partition"
ORIGINAL_OFFSET = "broadway-original-offset"

_OWN = frozenset({ATTEMPT, NOT_BEFORE, REASON, FAILED_AT})
_ORIGIN = (ORIGINAL_TOPIC, ORIGINAL_PARTITION, ORIGINAL_OFFSET)
MAX_REASON_BYTES = 4096


def find(headers: Headers, name: str) -> bytes | None:
    """The last value of header ``name``, or None."""
    found = None
    for key, value in headers:
        if key == name:
            found = value
    return found


def _int(value: bytes | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def read_attempt(headers: Headers) -> int:
    """The attempt number a record carries (1 when it carries none, or a bad one)."""
    attempt = _int(find(headers, ATTEMPT))
    return attempt if attempt is not None and attempt >= 1 else 1


def read_not_before(headers: Headers) -> float | None:
    """The unix time (seconds) before which the record must not be handled, if any."""
    millis = _int(find(headers, NOT_BEFORE))
    return None if millis is None else millis / 1000.0


def read_origin(headers: Headers) -> dict[str, object]:
    """The original topic / partition / offset a re-published record carries."""
    topic = find(headers, ORIGINAL_TOPIC)
    if topic is None:
        return {}
    return {
        "original_topic": topic.decode("utf-8", "replace"),
        "original_partition": _int(find(headers, ORIGINAL_PARTITION)),
        "original_offset": _int(find(headers, ORIGINAL_OFFSET)),
    }


def format_id(topic: str, partition: int, offset: int) -> str:
    """A message id: ``"<topic>/<partition>/<offset>"`` (topic names have no ``/``)."""
    return f"{topic}/{partition}/{offset}"


def message_id(headers: Headers, topic: str, partition: int, offset: int) -> str:
    """The id of a record: its origin's when it carries one, else its own position."""
    if headers:
        origin = find(headers, ORIGINAL_TOPIC)
        if origin is not None:
            origin_partition = _int(find(headers, ORIGINAL_PARTITION))
            origin_offset = _int(find(headers, ORIGINAL_OFFSET))
            if origin_partition is not None and origin_offset is not None:
                return format_id(origin.decode("utf-8", "replace"), origin_partition, origin_offset)
    return format_id(topic, partition, offset)


def _carried(headers: Headers, topic: str, partition: int, offset: int) -> list[tuple[str, bytes]]:
    """The record's own headers, with its origin (kept from an earlier re-publish)."""
    kept = [(k, v) for k, v in headers if k not in _OWN]
    if find(headers, ORIGINAL_TOPIC) is None:
        kept = [(k, v) for k, v in kept if k not in _ORIGIN]
        kept += [
            (ORIGINAL_TOPIC, topic.encode()),
            (ORIGINAL_PARTITION, str(partition).encode()),
            (ORIGINAL_OFFSET, str(offset).encode()),
        ]
    return kept


def retry_headers(
    headers: Headers, topic: str, partition: int, offset: int, attempt: int, not_before: float
) -> list[tuple[str, bytes]]:
    """Headers of the re-published copy: the next ``attempt`` and its not-before time."""
    return [
        *_carried(headers, topic, partition, offset),
        (ATTEMPT, str(attempt).encode()),
        (NOT_BEFORE, str(round(not_before * 1000)).encode()),
    ]


def dead_letter_headers(
    headers: Headers,
    topic: str,
    partition: int,
    offset: int,
    attempt: int,
    reason: str,
    failed_at: float,
) -> list[tuple[str, bytes]]:
    """Headers of a dead letter: the failure reason, when, and after how many attempts."""
    encoded = reason.encode("utf-8", "replace")[:MAX_REASON_BYTES]
    return [
        *_carried(headers, topic, partition, offset),
        (ATTEMPT, str(attempt).encode()),
        (REASON, encoded),
        (FAILED_AT, str(round(failed_at * 1000)).encode()),
    ]


def with_trace(
    headers: list[tuple[str, bytes]], context: Mapping[str, str]
) -> list[tuple[str, bytes]]:
    """``headers`` with the trace ``context`` of a copy (:func:`broadway_py.tracer.copy_context`).

    The failed attempt's ``traceparent`` (and the rest) replace the ones the
    record came with.
    """
    if not context:
        return headers
    kept = [(k, v) for k, v in headers if k not in context]
    return kept + [(k, v.encode()) for k, v in context.items()]
