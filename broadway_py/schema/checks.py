"""How a model validator reports several cross-field problems at once.

A model's own checks (``fetch_max_bytes`` at least ``fetch_min_bytes``, one of
``queue_url`` and ``queue_name``...) collect every problem they find and raise
them together, one line each: the config layer (``config/validation.py``)
makes each line a problem of its own, at the field the line starts with, so a
file with two mistakes is told about both in one run.
"""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


def checked(model: T, found: list[str]) -> T:
    """``model`` when ``found`` is empty; else a ValueError with one line per problem."""
    if found:
        raise ValueError("\n".join(found))
    return model
