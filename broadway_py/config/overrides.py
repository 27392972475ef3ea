"""``--set key.path=value`` overrides, applied to the config tree before validation.

The value is read as a YAML scalar (``8`` is a number, ``true`` a boolean,
``null`` nothing, anything else text); a value starting with ``[`` or ``{``
is read as a YAML flow list / mapping (with the same bounds as a file). Missing
mappings on the way are made.

A problem names the argument as ``--set KEY.PATH=...``: the key, never the
value, which may be a password (``--set producer.kafka.sasl.password=...``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.nodes import ScalarNode

from broadway_py.config.limits import number_problem, shorten
from broadway_py.config.problems import Path, Position, Problems
from broadway_py.config.redact import redact_url
from broadway_py.config.source import SourceMap, load_yaml

_resolver = yaml.SafeLoader("")
_PART = re.compile(r"[A-Za-z0-9_-]+\Z")


@dataclass(frozen=True)
class Override:
    """Set the value at ``path``; ``source`` names the argument it came from."""

    path: tuple[str, ...]
    value: Any
    source: str


class BadOverride(ValueError):
    pass


def parse_scalar(text: str, label: str = "--set") -> Any:
    """``text`` typed the way YAML types an unquoted value; BadOverride names ``label``."""
    stripped = text.strip()
    if stripped.startswith(("[", "{")):
        problems = Problems()
        value, _ = load_yaml(stripped, label, None, problems)
        if problems:
            first = problems.found[0]
            raise BadOverride(
                f"{label}: not a valid YAML list or mapping (at character "
                f"{first.position.column}): {first.message}"
            )
        return value
    tag = _resolver.resolve(ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
    if tag == "tag:yaml.org,2002:timestamp":
        return text
    try:
        value = _resolver.construct_object(ScalarNode(tag, text), deep=True)
    except (ValueError, TypeError, OverflowError, yaml.YAMLError) as error:
        raise BadOverride(f"{label}: not a valid value: {shorten(str(error), 120)}") from None
    wrong = number_problem(value)
    if wrong is not None:
        raise BadOverride(f"{label}: {wrong}")
    return value


def parse_set(argument: str) -> Override:
    """``processors.concurrency=8`` -> Override(("processors", "concurrency"), 8)."""
    key, equals, text = argument.partition("=")
    key = key.strip()
    if not equals or not key:
        raise BadOverride("--set: expected KEY.PATH=VALUE, e.g. --set processors.concurrency=8")
    shown = shorten(redact_url(key))
    label = f"--set {shown}=..."
    path = tuple(key.split("."))
    if not all(_PART.match(part) for part in path):
        raise BadOverride(
            f"{label}: {shown!r} is not a key path like processors.concurrency "
            "(letters, digits, '_' and '-', joined by '.')"
        )
    return Override(path, parse_scalar(text, label), label)


def apply(
    data: dict[str, Any], overrides: list[Override], positions: SourceMap, problems: Problems
) -> None:
    """Apply ``overrides`` to ``data`` in order; a path through a non-mapping is a problem."""
    for override in overrides:
        where = Position(override.source)
        node: Any = data
        walked: Path = ()
        for part in override.path[:-1]:
            walked += (part,)
            child = node.get(part)
            if child is None:
                child = node[part] = {}
                positions.values.setdefault(walked, where)
                positions.keys.setdefault(walked, where)
            elif not isinstance(child, dict):
                problems.add(
                    where,
                    f"cannot set {'.'.join(override.path)}: {'.'.join(map(str, walked))} "
                    "is not a mapping",
                )
                break
            node = child
        else:
            node[override.path[-1]] = override.value
            positions.replace(tuple(override.path), where)
