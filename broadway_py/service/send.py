"""``broadway-py send``: publish standard input to a pipeline's source, a batch at a time.

Each line is one message: a JSON value, sent as its JSON text (checked, never
re-encoded), or with ``raw`` the line as it is, its newline removed. Blank
lines are skipped. Lines are read and confirmed :data:`BATCH` at a time, so
memory stays bounded whatever the input's size; the connector's ``send``
module (through the registry) publishes each batch and returns once the broker
has confirmed all of it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from broadway_py.connectors import registry
from broadway_py.connectors.toolkit.sending import Outbound
from broadway_py.errors import BroadwayError
from broadway_py.message import describe_exception
from broadway_py.service.producer_choice import ChosenProducer

BATCH = 500
"""Lines read, sent and confirmed together."""
MAX_LINE = 1024 * 1024
"""The longest line taken (1 MiB); SQS takes at most 256 KiB a message."""


class BadInput(BroadwayError, ValueError):
    """A line that is not JSON, or a ``--header`` that is not ``NAME=VALUE``."""


class SendFailed(BroadwayError):
    """The broker refused or did not confirm a batch."""


@dataclass
class Sent:
    """How many messages were sent, and how many the broker confirmed."""

    sent: int = 0
    confirmed: int = 0

    @property
    def complete(self) -> bool:
        return self.sent == self.confirmed

    def __str__(self) -> str:
        return f"sent {self.sent}, confirmed {self.confirmed}"


def parse_headers(texts: Iterable[str]) -> dict[str, str]:
    """``--header NAME=VALUE`` arguments as a mapping (the values never quoted in errors)."""
    headers: dict[str, str] = {}
    for text in texts:
        name, found, value = text.partition("=")
        if not found or not name.strip():
            raise BadInput("--header takes NAME=VALUE, with a name before '='")
        headers[name.strip()] = value
    return headers


async def send_lines(
    producer: ChosenProducer,
    stream: BinaryIO,
    *,
    raw: bool = False,
    key: str | None = None,
    headers: dict[str, str] | None = None,
) -> Sent:
    """Publish every line of ``stream`` to ``producer``'s source; the counts."""
    connector = producer.connector.name
    open_sender = registry.sender(connector)
    if open_sender is None:
        raise BadInput(f"the {connector} producer has no broker to send to")
    fixed = dict(headers or {})
    done = Sent()
    number = 0
    async with open_sender(producer.options) as sender:
        while True:
            lines = await asyncio.to_thread(_read_batch, stream)
            if not lines:
                return done
            batch: list[Outbound] = []
            for line in lines:
                number += 1
                body = _body(line, number, raw, done)
                if body is not None:
                    batch.append(Outbound(body, key, fixed))
            if batch:
                await _send(sender.send, batch, done)


async def _send(
    send: Callable[[Sequence[Outbound]], Awaitable[int]], batch: Sequence[Outbound], done: Sent
) -> None:
    done.sent += len(batch)
    try:
        done.confirmed += await send(batch)
    except BroadwayError as error:
        raise SendFailed(f"{error}; {done}") from error
    except Exception as error:
        raise SendFailed(f"{describe_exception(error)}; {done}") from error


def _read_batch(stream: BinaryIO) -> list[bytes]:
    lines = []
    for _ in range(BATCH):
        line = stream.readline(MAX_LINE + 2)
        if not line:
            break
        lines.append(line)
    return lines


def _body(line: bytes, number: int, raw: bool, done: Sent) -> bytes | None:
    """The message body of input line ``number``; None for a blank line."""
    if len(line) > MAX_LINE + 1:
        raise BadInput(f"line {number} is longer than {MAX_LINE} bytes; {done}")
    text = line.removesuffix(b"\n").removesuffix(b"\r")
    if not text.strip():
        return None
    if raw:
        return text
    try:
        json.loads(text)
    except ValueError as error:
        reason = error.msg if isinstance(error, json.JSONDecodeError) else "not UTF-8"
        raise BadInput(f"line {number} is not JSON ({reason}); use --raw; {done}") from None
    return text.strip()
