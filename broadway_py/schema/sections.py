"""A pipeline file's section, derived from its core option object.

The options of ``processors:``, ``batchers:``, ``retry:``... are defined once,
on the fields of their core dataclass (:mod:`broadway_py.option_spec`). Here
each such dataclass becomes a pydantic model: same names, same order, same
defaults; its bounds become pydantic constraints (so a value out of bounds is
reported as ``should be less than or equal to 1000000``) and its doc the
field's description. A reference (``partition_by``, ``never_retry``) is text
in the file, resolved by the loader.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, Field, create_model

from broadway_py.option_spec import Option, options_of

MAX_REFERENCES = 1_000
"""Most items of a list of references (``never_retry``)."""


def option_field(default: Any, described: Option) -> Any:
    """The pydantic ``Field`` of one option: its default, bounds and doc."""
    facts: dict[str, Any] = {
        "ge": described.least,
        "gt": described.above,
        "le": described.most,
        "description": described.doc,
    }
    if isinstance(default, tuple):
        facts["max_length"] = MAX_REFERENCES
        return Field(default_factory=list, **facts)
    if default is dataclasses.MISSING:
        return Field(**facts)
    return Field(default=default, **facts)


def field_of(options: type, name: str) -> Any:
    """The pydantic ``Field`` of option ``name`` of ``options``, for a hand-written model."""
    return next(option_field(d, found) for field, d, found in options_of(options) if field == name)


def file_type(kind: Any, default: Any, described: Option) -> Any:
    """The type an option has in the file: a reference is text (a list of text for a tuple)."""
    if not described.reference:
        return kind
    return list[str] if isinstance(default, tuple) else str | None


def section_model(
    name: str,
    options: type,
    base: type[BaseModel],
    doc: str,
    described: Mapping[str, Option] | None = None,
    validators: Mapping[str, Callable[..., Any]] | None = None,
) -> type[BaseModel]:
    """The pydantic model ``name`` of the options of ``options`` (a dataclass)."""
    hints = typing.get_type_hints(options)
    fields: dict[str, Any] = {
        field: (file_type(hints[field], default, found), option_field(default, found))
        for field, default, found in options_of(options, described)
    }
    model: type[BaseModel] = create_model(
        name,
        __base__=base,
        __doc__=doc,
        __module__=base.__module__,
        __validators__=dict(validators or {}),
        **fields,
    )
    return model
