"""``loads``: what :func:`json.loads` returns or raises, parsed in about half the time.

``decode: json`` parses every message; on ~1 KB JSON orders ``json.loads``
takes 9.5 µs and pydantic-core's ``from_json`` (a Rust parser; pydantic-core
comes with pydantic, a dependency of the package) 4.4 µs, measured over
``bench.payloads.orders``. That is most of what a decoding pipeline spends per
message (docs/performance.md has what it bought on Kafka and RabbitMQ).

The fast parser is only ever a quicker way to the same answer:

- where ``from_json`` accepts a document, ``json.loads`` accepts it and
  returns an equal value (same types, keys in the same order, the last of
  duplicate keys, ``NaN`` / ``Infinity``, integers of any size, floats
  correctly rounded); ``tests/unit/test_json_parse.py`` checks it with
  hypothesis against ``json.loads``;
- where ``from_json`` refuses a document (lone surrogate escapes, a byte
  order mark, UTF-16 or UTF-32, nesting deeper than its limit of 200, or
  anything not JSON), ``json.loads`` parses it again and its result or its
  error is the answer: nothing ``json.loads`` accepts is refused, and errors
  read as they always did;
- without pydantic-core, ``loads`` is ``json.loads``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

_fast: Callable[[Any], Any] | None
try:
    from pydantic_core import from_json as _fast
except ImportError:  # pragma: no cover - pydantic (a dependency) brings it
    _fast = None


def _loads(data: Any) -> Any:
    try:
        return _fast(data)  # type: ignore[misc]
    except Exception:  # refused, or not a type it parses: json.loads says what it is
        return json.loads(data)


loads: Callable[[Any], Any] = json.loads if _fast is None else _loads
