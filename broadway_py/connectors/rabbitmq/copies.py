"""Properties of the copies the connector publishes: retries and dead letters. Pure.

A copy keeps the original's properties (content type, message id,
correlation id, ...) and headers, except:

- it is persistent (``delivery_mode`` 2) whatever the original was: the
  connector acks the original once the copy is confirmed, so from then on the
  copy is the message, and it must survive a node restart in a durable queue;
- ``user_id`` is dropped (the broker checks it against the publishing user);
- a retry copy gets the attempt header (the attempt of its next delivery) and
  an ``expiration`` of the delay, in milliseconds;
- a dead-letter copy loses the attempt header and any expiration, and gets
  ``x-broadway-failure-reason``, ``x-broadway-attempts`` (deliveries made),
  ``x-broadway-source-queue`` and ``x-broadway-dead-lettered-at`` (unix seconds);
- a traced pipeline's copy carries the failed attempt's trace context
  (``traceparent``, ...), in place of the one the original came with.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pamqp.commands import Basic

from broadway_py.tracer import NO_CONTEXT

REASON_HEADER = "x-broadway-failure-reason"
ATTEMPTS_HEADER = "x-broadway-attempts"
SOURCE_HEADER = "x-broadway-source-queue"
DEAD_AT_HEADER = "x-broadway-dead-lettered-at"
MAX_REASON = 1024
PERSISTENT = 2


def _copy(
    original: Basic.Properties, headers: dict[str, Any], expiration: str | None
) -> Basic.Properties:
    return Basic.Properties(
        content_type=original.content_type,
        content_encoding=original.content_encoding,
        headers=headers,
        delivery_mode=PERSISTENT,
        priority=original.priority,
        correlation_id=original.correlation_id,
        reply_to=original.reply_to,
        expiration=expiration,
        message_id=original.message_id,
        timestamp=original.timestamp,
        message_type=original.message_type,
        app_id=original.app_id,
    )


def retry_properties(
    original: Basic.Properties,
    attempt_header: str,
    next_attempt: int,
    delay_ms: int | None,
    trace: Mapping[str, str] = NO_CONTEXT,
) -> Basic.Properties:
    """A retry copy: ``next_attempt`` in the header; TTL ``delay_ms`` (None: no TTL).

    ``trace``: the failed attempt's trace context (:func:`broadway_py.tracer.copy_context`),
    which replaces the one the message came with.
    """
    headers = dict(original.headers or {})
    headers.update(trace)
    headers[attempt_header] = next_attempt
    return _copy(original, headers, None if delay_ms is None else str(delay_ms))


def dead_letter_properties(
    original: Basic.Properties,
    attempt_header: str,
    *,
    reason: str,
    attempts: int,
    source_queue: str,
    now: float,
    trace: Mapping[str, str] = NO_CONTEXT,
) -> Basic.Properties:
    """A dead-letter copy, carrying why and after how many deliveries it failed (and ``trace``)."""
    headers = dict(original.headers or {})
    headers.update(trace)
    headers.pop(attempt_header, None)
    headers[REASON_HEADER] = reason[:MAX_REASON]
    headers[ATTEMPTS_HEADER] = attempts
    headers[SOURCE_HEADER] = source_queue
    headers[DEAD_AT_HEADER] = int(now)
    return _copy(original, headers, None)
