"""The bounds of a pipeline file: how big, how deep, how many values, how large a number.

A pipeline file is small and hand-written; these bounds are far above any real
one and keep a malformed or hostile file (an alias bomb, 20,000 nested lists, a
400-digit count, a named pipe) from taking unbounded time or memory before it
is rejected. Each bound is named in the message that reports it, and listed in
docs/configuration.md ("Bounds").
"""

from __future__ import annotations

import math
from typing import Any

MAX_FILE_BYTES = 1024 * 1024
"""A pipeline file is at most 1 MiB."""

MAX_DEPTH = 64
"""Mappings and lists nest at most this deep (aliases expanded)."""

MAX_VALUES = 100_000
"""At most this many values (keys, scalars, lists, mappings) once aliases are expanded."""

MAX_INTEGER = 2**63 - 1
"""No number in a pipeline file is larger than a 64-bit integer."""

MAX_SHOWN = 60
"""A value quoted in a message is cut to this many characters."""


def number_problem(value: Any) -> str | None:
    """Why ``value`` (a YAML scalar) cannot be a config value, or None when it can."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and not -MAX_INTEGER <= value <= MAX_INTEGER:
        return f"the number has {len(str(abs(value)))} digits; numbers are at most {MAX_INTEGER}"
    if isinstance(value, float) and not math.isfinite(value):
        return f"should be a finite number, not {value}"
    return None


def shorten(text: str, limit: int = MAX_SHOWN) -> str:
    """``text`` cut to ``limit`` characters, with ``...`` when cut."""
    return text if len(text) <= limit else text[: limit - 3] + "..."
