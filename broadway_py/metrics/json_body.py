"""A request body parsed as JSON within bounds: nesting depth and number size. Pure.

``json.loads`` recurses once per nesting level (a body of ten thousand ``[``
raises RecursionError) and turns a number of thousands of digits into an int
the hard way (or raises). A body that is too deep is refused before parsing; an
integer of more than :data:`MAX_DIGITS` digits becomes a :class:`HugeNumber`, so
the endpoint that checks the values can say which bound it broke.
Non-finite numbers (``Infinity``, ``NaN``, ``1e999``) come back as floats and are
the endpoint's to refuse, as out of range.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DIGITS = 30
"""Integers longer than this are not converted (no bound in the service is that large)."""


class BodyError(ValueError):
    """The body is not JSON, or not within bounds; the message says which, for a 400."""


class HugeNumber:
    """An integer too long to be worth converting; only its length is kept."""

    __slots__ = ("digits", "negative")

    def __init__(self, text: str) -> None:
        self.negative = text.startswith("-")
        self.digits = len(text.lstrip("-"))

    def __repr__(self) -> str:
        return f"{'-' if self.negative else ''}<a number of {self.digits} digits>"


def parse_json(raw: bytes, max_depth: int) -> Any:
    """The JSON value of ``raw``; raises BodyError when it is not JSON or nests too deep."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BodyError("the body must be UTF-8 JSON") from None
    depth = nesting_depth(text)
    if depth > max_depth:
        raise BodyError(f"the body nests {depth} levels deep; at most {max_depth} are allowed")
    try:
        return json.loads(text, parse_int=_int)
    except ValueError as error:
        raise BodyError(f"the body is not valid JSON: {_first_line(error)}") from None


def nesting_depth(text: str) -> int:
    """How deep arrays and objects nest in JSON text (brackets inside strings do not count)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _int(text: str) -> int | HugeNumber:
    if len(text.lstrip("-")) > MAX_DIGITS:
        return HugeNumber(text)
    return int(text)


def _first_line(error: ValueError) -> str:
    message = str(error).splitlines()[0] if str(error) else type(error).__name__
    return message[:120]
