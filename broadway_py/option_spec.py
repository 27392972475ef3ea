"""One definition per option: its default, bounds and one-line doc, on the field itself.

An option of the core's option objects (:mod:`broadway_py.options`) is a
dataclass field made by :func:`option`; the :class:`Option` in its metadata says
what the pipeline file's schema, the Python API's checks and the docs tables
need to know about it. From this one place:

- core checks a value when the option object is made (:func:`check_options`);
- the config layer derives the pipeline file's pydantic models and builds the
  option objects from them (``config/models.py``, ``config/builder.py``);
- the docs tables of docs/configuration.md are rendered (``config/reference.py``).

Standard library only, like the rest of core.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from broadway_py.errors import ConfigurationError

WEEK = 7 * 24 * 3600.0
"""Every duration a pipeline file gives (timeouts, intervals, delays) is at most a week."""


@dataclass(frozen=True)
class Option:
    """What one option is: a one-line doc and its bounds.

    ``least`` and ``above`` bound it from below (inclusive, exclusive) wherever
    it is set. ``most`` bounds it from above in a pipeline file; with
    ``strict`` the Python API (and the admin endpoint) are held to it too.
    ``reference``: in a pipeline file the value is text naming code
    (``metadata.<key>`` or ``package.module:function``), resolved by the
    loader. ``shown`` is the docs' default column when the value says too
    little (``max_demand / 2`` for None), ``bound`` the docs' Bounds line when
    the bare number says too little.
    """

    doc: str
    least: float | None = None
    above: float | None = None
    most: float | None = None
    strict: bool = False
    reference: bool = False
    shown: str | None = None
    bound: str | None = None


def option(default: Any, doc: str, **facts: Any) -> Any:
    """A dataclass field holding ``default``, described by ``Option(doc, **facts)``.

    Like :func:`dataclasses.field`, it is called once, when the class is made
    (ruff's RUF009 cannot know that: the fields that use it say so).
    """
    return dataclasses.field(default=default, metadata={"option": Option(doc, **facts)})


def options_of(
    cls: type, described: Mapping[str, Option] | None = None
) -> Iterator[tuple[str, Any, Option]]:
    """``(name, default, option)`` of each option of a dataclass, in field order.

    The :class:`Option` is the field's own, or ``described[name]`` for a class
    whose fields do not carry one. A field without an Option (a callable the
    Python API takes, a name the file gives as a key) is not an option of the
    file and is left out. A default made by a factory is called; a required
    option's default is :data:`dataclasses.MISSING`.
    """
    for field in dataclasses.fields(cls):
        found = field.metadata.get("option") or (described or {}).get(field.name)
        if isinstance(found, Option):
            default = field.default
            if field.default_factory is not dataclasses.MISSING:
                default = field.default_factory()
            yield field.name, default, found


def check_options(instance: Any, prefix: str) -> None:
    """Check each option of ``instance`` (a dataclass) against its :class:`Option`.

    An option annotated ``int`` must be a whole number, any other numeric one
    a number (a text, flag or reference option is the type checker's); None
    passes where it is the default. Raises ConfigurationError naming
    ``prefix.<option>``.
    """
    for field in dataclasses.fields(instance):
        described = field.metadata.get("option")
        if not isinstance(described, Option) or described.reference:
            continue
        if isinstance(field.default, bool | str):
            continue
        value = getattr(instance, field.name)
        if value is None and field.default is None:
            continue
        where = f"{prefix}.{field.name}"
        _check_number(where, value, described, whole=_annotated_int(field.type))


def _annotated_int(hint: Any) -> bool:
    """Whether a field's annotation is ``int`` (or ``int | None``)."""
    text = hint if isinstance(hint, str) else getattr(hint, "__name__", "")
    return text.split(" | ")[0] == "int"


def number_text(value: float) -> str:
    """``1_000_000`` for a whole number, ``0.001`` for a fraction: how bounds are written."""
    if not float(value).is_integer():
        return f"{value:g}"
    return f"{int(value):_}" if abs(value) >= 10_000 else str(int(value))


def _check_number(where: str, value: Any, described: Option, *, whole: bool) -> None:
    if whole and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigurationError(where, f"must be a whole number, not {value!r}")
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise ConfigurationError(where, f"must be a number, not {value!r}")
    if described.least is not None and value < described.least:
        raise ConfigurationError(
            where, f"must be at least {number_text(described.least)}, not {value!r}"
        )
    if described.above is not None and value <= described.above:
        raise ConfigurationError(
            where, f"must be above {number_text(described.above)}, not {value!r}"
        )
    if described.strict and described.most is not None and not value <= described.most:
        raise ConfigurationError(
            where, f"must be at most {number_text(described.most)}, not {value!r}"
        )


def bounds(cls: type, name: str) -> tuple[float, float]:
    """The lowest and highest value of a bounded option (both included)."""
    described = next(found for field, _, found in options_of(cls) if field == name)
    low = described.least if described.least is not None else described.above
    assert low is not None, f"{name} has no lower bound"
    assert described.most is not None, f"{name} has no upper bound"
    return low, described.most
