"""Annotated field types whose bounds the pipeline file and the connectors share.

A field typed ``Seconds`` is a positive duration of at most a week
(:data:`~broadway_py.option_spec.WEEK`), whatever section it is in; pydantic
reports a value out of bounds in the same words everywhere (``should be less
than or equal to 604800``). A field still gives its own default and
description with ``Field(...)``.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from broadway_py.option_spec import WEEK

Seconds = Annotated[float, Field(gt=0, le=WEEK)]
"""A duration in seconds, above 0, at most a week."""

SecondsOrZero = Annotated[float, Field(ge=0, le=WEEK)]
"""A duration in seconds where 0 means "not at all", at most a week."""
