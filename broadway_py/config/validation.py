"""Turns pydantic validation errors into positioned, friendly problems."""

from __future__ import annotations

import difflib
import types
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from broadway_py.config.problems import Path, Problems, dotted
from broadway_py.config.redact import is_secret_key, redact_url
from broadway_py.config.source import SourceMap


def validate(
    model: type[BaseModel],
    data: Any,
    prefix: Path,
    positions: SourceMap,
    problems: Problems,
    skip: set[Path] | frozenset[Path] = frozenset(),
) -> BaseModel | None:
    """``model`` validated from ``data`` (which sits at ``prefix``), or None after problems."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        report(error, model, prefix, positions, problems, skip)
        return None


def report(
    error: ValidationError,
    model: type[BaseModel],
    prefix: Path,
    positions: SourceMap,
    problems: Problems,
    skip: set[Path] | frozenset[Path] = frozenset(),
) -> None:
    for item in error.errors(include_url=False):
        loc: Path = tuple(item["loc"])
        path = prefix + loc
        if any(path[: len(bad)] == bad for bad in skip):
            continue  # already reported (an unset ${VAR} there)
        kind = item["type"]
        if kind == "missing":
            parent = path[:-1]
            where = positions.key(parent) if parent else positions.root
            head = f"{dotted(parent)}: " if parent else ""
            problems.add(where, f"{head}missing required key {path[-1]!r}")
        elif kind == "extra_forbidden":
            parent = path[:-1]
            head = f"{dotted(parent)}: " if parent else ""
            hint = _hint(str(path[-1]), allowed_keys(model, loc[:-1]))
            problems.add(positions.key(path), f"{head}unknown key {path[-1]!r}{hint}")
        else:
            problems.add(positions.value(path), f"{dotted(path)}: {_message(item, path)}")


def _message(item: Any, path: Path) -> str:
    message = str(item["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if message.startswith("Input should be "):
        message = "should be " + message.removeprefix("Input should be ")
    value = item.get("input")
    if value is None and "input" in item and item["type"] != "value_error":
        return message + ", not an empty value (null)"
    if isinstance(value, str | int | float | bool) and item["type"] != "value_error":
        if path and is_secret_key(str(path[-1])):
            shown = "<redacted>"
        else:
            shown = repr(redact_url(value) if isinstance(value, str) else value)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        message += f", not {shown}"
    return message


def _hint(key: str, allowed: list[str]) -> str:
    if not allowed:
        return ""
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    if close:
        return f" (did you mean {close[0]!r}?)"
    return f" (expected one of: {', '.join(allowed)})"


def allowed_keys(model: type[BaseModel], loc: Path) -> list[str]:
    """The field names of the model found at ``loc`` below ``model`` (empty if none)."""
    annotation: Any = model
    for part in loc:
        annotation = _step(annotation, part)
        if annotation is None:
            return []
    for candidate in _candidates(annotation):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return list(candidate.model_fields)
    return []


def _candidates(annotation: Any) -> list[Any]:
    """``annotation`` with Annotated and Optional / unions unwrapped."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _candidates(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        found: list[Any] = []
        for arg in get_args(annotation):
            if arg is not type(None):
                found.extend(_candidates(arg))
        return found
    return [annotation]


def _step(annotation: Any, part: str | int) -> Any:
    for candidate in _candidates(annotation):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            field = candidate.model_fields.get(str(part))
            if field is not None:
                return field.annotation
        origin = get_origin(candidate)
        if origin is dict:
            return get_args(candidate)[1]
        if origin is list and isinstance(part, int):
            return get_args(candidate)[0]
    return None
