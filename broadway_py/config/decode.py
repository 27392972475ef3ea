"""The producer's ``decode`` step, run as the pipeline's transformer.

Connectors deliver ``message.data`` as bytes. ``decode: json`` parses it,
``decode: text`` decodes it as UTF-8, ``decode: bytes`` leaves it. A payload
that does not decode raises :class:`~broadway_py.errors.DecodeError`, a poison
message error: the message is dead-lettered (or discarded) with the decode
error as its reason, never retried, and the pipeline goes on.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from broadway_py.errors import DecodeError
from broadway_py.message import Message

Transform = Callable[[Message], Any]


def decode_json(message: Message) -> Message:
    try:
        message.data = json.loads(message.data)
    except UnicodeDecodeError as error:
        raise DecodeError(f"payload is not valid JSON: not UTF-8 (byte {error.start})") from None
    except ValueError as error:
        raise DecodeError(f"payload is not valid JSON: {error}") from None
    except TypeError:
        raise DecodeError(
            f"payload is not valid JSON: expected bytes or text, not {type(message.data).__name__}"
        ) from None
    return message


def decode_text(message: Message) -> Message:
    data = message.data
    if isinstance(data, bytes | bytearray | memoryview):
        try:
            message.data = bytes(data).decode("utf-8")
        except UnicodeDecodeError as error:
            raise DecodeError(
                f"payload is not UTF-8 text: {error.reason} at byte {error.start}"
            ) from None
    elif not isinstance(data, str):
        raise DecodeError(f"payload is not text: expected bytes, not {type(data).__name__}")
    return message


DECODERS: dict[str, Transform | None] = {
    "json": decode_json,
    "text": decode_text,
    "bytes": None,
}


def transformer(decode: str, user: Transform | None, user_name: str = "") -> Transform | None:
    """The producer transformer: decode, then the user's transformer (either may be absent)."""
    decoder = DECODERS[decode]
    if decoder is None:
        return user
    if user is None:
        return decoder
    first: Transform = decoder

    def decode_then_transform(message: Message) -> Any:
        return user(first(message))

    decode_then_transform.__qualname__ = f"decode {decode}, then {user_name or user!r}"
    return decode_then_transform
