"""How a delay queue is declared, so that a retry waiting in it survives a node restart. Pure.

A retry waits out its delay in a delay queue that nobody consumes; when the
delay expires, the queue dead-letters the message back to the source queue
(default exchange, routing key = the source queue). Out of a *classic* queue
RabbitMQ dead-letters at most once: a message that expires while the source
queue is not available is dropped. That is what happens when the node
restarts: it recovers the delay queues, finds their messages expired, and
dead-letters them before the source queue is back. Every retry waiting at
the time was lost (issue 12).

So, on RabbitMQ 3.10 and later, a delay queue is a quorum queue with

- ``x-dead-letter-strategy: at-least-once``: a dead-lettered message stays in
  the delay queue until the source queue has confirmed it, and is retried
  while the source queue is unavailable;
- ``x-overflow: reject-publish``: at-least-once needs it (with the default
  ``drop-head`` RabbitMQ quietly falls back to at-most-once);
- ``x-message-ttl`` = its bucket (naming.py), when bucketed: a retry never
  waits longer than its bucket, even where a server ignores per-message TTL
  on quorum queues. The copy's own ``expiration`` (its exact delay) expires it
  sooner where it is honoured (RabbitMQ 3.10.8 honours both), so a retry waits
  its delay, and at most twice it.

A server older than 3.10 (or one that does not say it is RabbitMQ) gets the
classic declaration of earlier versions, per-message TTL only, and the
producer warns once at start that retries waiting there can be lost.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

AT_LEAST_ONCE_SINCE = (3, 10)


def _text(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    return value if isinstance(value, str) else ""


def server_name(properties: Mapping[str, Any]) -> str:
    """``RabbitMQ 3.10.8``, from the server properties of Connection.Start."""
    product = _text(properties.get("product")) or "unknown server"
    version = _text(properties.get("version"))
    return f"{product} {version}".strip()


def at_least_once_supported(properties: Mapping[str, Any]) -> bool:
    """Whether the server dead-letters at least once out of quorum queues (RabbitMQ 3.10+)."""
    if _text(properties.get("product")).lower() != "rabbitmq":
        return False
    found = re.match(r"(\d+)\.(\d+)", _text(properties.get("version")))
    if found is None:
        return False
    return (int(found[1]), int(found[2])) >= AT_LEAST_ONCE_SINCE


def delay_arguments(
    source_queue: str, bucket_ms: int | None, at_least_once: bool
) -> dict[str, Any]:
    """The arguments of a delay queue that dead-letters back to ``source_queue``.

    ``bucket_ms`` is the queue's bucket (None: not bucketed, per-message TTL only).
    """
    arguments: dict[str, Any] = {
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": source_queue,
    }
    if not at_least_once:
        return arguments
    arguments["x-queue-type"] = "quorum"
    arguments["x-dead-letter-strategy"] = "at-least-once"
    arguments["x-overflow"] = "reject-publish"
    if bucket_ms is not None:
        arguments["x-message-ttl"] = bucket_ms
    return arguments


def unsafe_server_warning(server: str) -> str:
    """The one warning for a server without at-least-once dead-lettering."""
    return (
        f"{server} does not dead-letter at least once (RabbitMQ 3.10 or later does): "
        "retries wait in classic delay queues, and those waiting when the node restarts "
        "are lost; upgrade the server to keep them"
    )


def mismatch_warning(queue: str, detail: str) -> str:
    """The one warning for a delay queue that exists with other arguments.

    The connector keeps using such a queue as it is (a classic delay queue of
    an earlier version dead-letters back to the source queue, at most once),
    so nothing waiting in it is stranded, and says how to replace it.
    """
    return (
        f"delay queue {queue!r} exists with other arguments than this version declares "
        f"({detail}); using it as it is, so retries waiting in it are lost if the node "
        f"restarts. To fix: once it is empty, delete it (rabbitmqctl delete_queue {queue} "
        "--if-empty) and it is declared anew as a quorum queue on its next use; or set "
        "retry.delay_queue to a new name"
    )
