"""The body of ``POST /admin/resize``: its shape, and why not. Pure.

``{"processors": 8, "batchers": {"db": 2}}``, either key alone: how many
processors, and how many batch processors of each named batcher, should run.
The values are checked by ``Pipeline.resize`` itself, against the options'
own bounds (its ConfigurationError is the route's 400 too).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

KEYS = ("processors", "batchers")


class ResizeBodyError(ValueError):
    """The body is not a resize; the message says why, for a 400."""


@dataclass(frozen=True)
class ResizeChange:
    """The sizes asked for; None (or a batcher left out) leaves that one as it is."""

    processors: Any
    batchers: dict[str, Any]


def parse_resize(body: Any) -> ResizeChange:
    """Check a decoded JSON body's shape; raises ResizeBodyError saying what is wrong."""
    if not isinstance(body, dict):
        raise ResizeBodyError("the body must be a JSON object with processors and/or batchers")
    unknown = sorted(set(body) - set(KEYS))
    if unknown:
        raise ResizeBodyError(f"unknown keys {unknown}; expected processors and/or batchers")
    if not body:
        raise ResizeBodyError("give processors and/or batchers")
    batchers = body.get("batchers", {})
    if not isinstance(batchers, dict):
        raise ResizeBodyError('batchers must map batcher names to sizes, as {"db": 2}')
    return ResizeChange(body.get("processors"), batchers)
