"""Turns pydantic validation errors into positioned, friendly problems.

Also the checks pydantic's lax mode leaves out, made here once for every model
validated from a pipeline file (the schema's and each connector's): ``true`` /
``false`` is not a number, a number is not a boolean, ``3.0`` is not a count.
A model validator that finds several cross-field problems raises them as one
``ValueError`` with one line each; each line becomes a problem of its own, at
the field it starts with. No message shows the value of a secret: a key whose
name says so (:func:`~broadway_py.config.redact.is_secret_key`) or a field the
schema types ``SecretStr``; a URL's password is hidden in every message.
"""

from __future__ import annotations

import difflib
import types
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, SecretBytes, SecretStr, ValidationError

from broadway_py.config.limits import number_problem, shorten
from broadway_py.config.problems import Path, Problems, dotted
from broadway_py.config.redact import REDACTED, is_secret_key, redact_url
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
    loose = [
        (path, message)
        for path, message in _loose(model, data, prefix)
        if not any(path[: len(bad)] == bad for bad in skip)
    ]
    for path, message in loose:
        problems.add(positions.value(path), f"{dotted(path)}: {message}")
    try:
        validated = model.model_validate(data)
    except ValidationError as error:
        # A cross-field check of a model holding a value reported above saw it coerced:
        # its complaint would be about a value that is not in the file.
        covering = {path[:end] for path, _ in loose for end in range(len(path))}
        skip = {*skip, *(path for path, _ in loose)}
        report(error, model, prefix, positions, problems, skip, covering)
        return None
    except (ValueError, TypeError, ArithmeticError) as error:  # a validator's own fault
        where = positions.value(prefix) if prefix else positions.root
        head = f"{dotted(prefix)}: " if prefix else ""
        problems.add(where, f"{head}{shorten(redact_url(str(error)), 200)}")
        return None
    return None if loose else validated


def report(
    error: ValidationError,
    model: type[BaseModel],
    prefix: Path,
    positions: SourceMap,
    problems: Problems,
    skip: set[Path] | frozenset[Path] = frozenset(),
    covering: set[Path] | frozenset[Path] = frozenset(),
) -> None:
    for item in error.errors(include_url=False):
        loc: Path = tuple(item["loc"])
        path = prefix + loc
        if any(path[: len(bad)] == bad for bad in skip):
            continue  # already reported (an unset ${VAR} there)
        kind = item["type"]
        if kind == "value_error" and path in covering:
            continue
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
        elif kind == "value_error" and "\n" in str(item["msg"]):
            for line in _message(item, path, model, loc).splitlines():
                _cross_field(line, model, loc, prefix, positions, problems)
        elif kind == "value_error":
            _cross_field(_message(item, path, model, loc), model, loc, prefix, positions, problems)
        else:
            message = _message(item, path, model, loc)
            problems.add(positions.value(path), f"{dotted(path)}: {message}")


def _cross_field(
    message: str,
    model: type[BaseModel],
    loc: Path,
    prefix: Path,
    positions: SourceMap,
    problems: Problems,
) -> None:
    """A validator's message, at the field of ``loc``'s model it starts with (when it does)."""
    first = message.split(" ", 1)[0].split(".", 1)[0]
    path = prefix + loc
    if first and first in allowed_keys(model, loc) and (*path, first) in positions.values:
        problems.add(positions.value((*path, first)), f"{dotted(path)}: {message}")
        return
    problems.add(positions.value(path), f"{dotted(path)}: {message}")


def _message(item: Any, path: Path, model: type[BaseModel], loc: Path) -> str:
    message = str(item["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if message.startswith("Input should be "):
        message = "should be " + message.removeprefix("Input should be ")
    if item["type"] == "model_type":  # pydantic names its class: "... or instance of HttpSpec"
        message = "should be a mapping (key: value lines, or {key: value})"
    message = redact_url(message)
    value = item.get("input")
    if value is None and "input" in item and item["type"] != "value_error":
        return message + ", not an empty value (null)"
    if isinstance(value, str | int | float | bool) and item["type"] != "value_error":
        if is_secret_path(model, loc):
            shown = REDACTED
        else:
            shown = shorten(repr(redact_url(value) if isinstance(value, str) else value))
        message += f", not {shown}"
    return message


def is_secret_path(model: type[BaseModel], loc: Path) -> bool:
    """Whether the value at ``loc`` below ``model`` is secret: by its key's name or its type."""
    if any(isinstance(part, str) and is_secret_key(part) for part in loc[-1:]):
        return True
    annotation: Any = model
    for part in loc:
        annotation = _step(annotation, part)
        if annotation is None:
            return False
    return any(
        isinstance(candidate, type) and issubclass(candidate, SecretStr | SecretBytes)
        for candidate in _candidates(annotation)
    )


def _as_number(text: str) -> int | float | None:
    try:
        return int(text.strip().replace("_", ""))
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return None


def _loose(annotation: Any, value: Any, path: Path) -> list[tuple[Path, str]]:
    """Values pydantic's lax mode would coerce but a pipeline file must not give."""
    kinds = [c for c in _candidates(annotation) if c is not Any]
    if not kinds:
        return []
    if isinstance(value, bool):
        if bool not in kinds and any(k in (int, float) for k in kinds):
            return [(path, f"should be a number, not {str(value).lower()}")]
        return []
    if isinstance(value, int | float):
        if bool in kinds and not any(k in (int, float, str) for k in kinds):
            return [(path, f"should be true or false, not {value!r}")]
        whole = isinstance(value, float) and value.is_integer()
        if whole and int in kinds and float not in kinds:
            return [(path, f"should be a whole number, not {value!r}")]
        return []
    if isinstance(value, str) and str not in kinds and any(k in (int, float) for k in kinds):
        wrong = number_problem(_as_number(value))  # pydantic parses "inf" and 400 digits too
        return [] if wrong is None else [(path, wrong)]
    found: list[tuple[Path, str]] = []
    for kind in kinds:
        if isinstance(kind, type) and issubclass(kind, BaseModel) and isinstance(value, dict):
            for name, item in value.items():
                model_field = kind.model_fields.get(str(name))
                if model_field is not None:
                    found.extend(_loose(model_field.annotation, item, (*path, name)))
            return found
        origin = get_origin(kind)
        if origin is dict and isinstance(value, dict):
            inner = get_args(kind)[1]
            for name, item in value.items():
                found.extend(_loose(inner, item, (*path, name)))
            return found
        if origin is list and isinstance(value, list):
            inner = get_args(kind)[0]
            for index, item in enumerate(value):
                found.extend(_loose(inner, item, (*path, index)))
            return found
    return found


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
