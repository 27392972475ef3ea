"""What ``broadway-py send`` hands a connector to publish to a pipeline's source. Stdlib only.

A connector's ``send`` module has ``open_sender(options, key)``: an async
context manager whose ``send(batch)`` publishes a batch of :class:`Outbound`
messages to the pipeline's source and returns once the broker has confirmed
every one of them (raising when it did not), so the caller keeps one batch in
memory at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Outbound:
    """One message to send: its body, key (or None) and headers."""

    body: bytes
    key: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


class Sender(Protocol):
    async def send(self, batch: Sequence[Outbound]) -> int:
        """Publish ``batch``; the number the broker confirmed (all of them, or it raises)."""
        ...


OpenSender = Callable[[Any], AbstractAsyncContextManager[Sender]]
"""A connector's ``open_sender(options)``."""
