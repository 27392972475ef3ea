"""``--set key.path=value`` overrides, applied to the config tree before validation.

The value is read as a YAML scalar (``8`` is a number, ``true`` a boolean,
``null`` nothing, anything else text); a value starting with ``[`` or ``{``
is read as a YAML flow list / mapping. Missing mappings on the way are made.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.nodes import ScalarNode

from broadway_py.config.problems import Path, Position, Problems
from broadway_py.config.source import SourceMap

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


def parse_scalar(text: str) -> Any:
    """``text`` typed the way YAML types an unquoted value."""
    stripped = text.strip()
    if stripped.startswith(("[", "{")):
        try:
            return yaml.safe_load(stripped)
        except yaml.YAMLError as error:
            raise BadOverride(f"not a valid YAML list or mapping: {error}") from None
    tag = _resolver.resolve(ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
    if tag == "tag:yaml.org,2002:timestamp":
        return text
    return _resolver.construct_object(ScalarNode(tag, text), deep=True)


def parse_set(argument: str) -> Override:
    """``processors.concurrency=8`` -> Override(("processors", "concurrency"), 8)."""
    key, equals, text = argument.partition("=")
    key = key.strip()
    if not equals or not key:
        raise BadOverride(f"--set {argument!r}: expected key.path=value")
    path = tuple(key.split("."))
    if not all(_PART.match(part) for part in path):
        raise BadOverride(
            f"--set {argument!r}: {key!r} is not a key path like processors.concurrency"
        )
    return Override(path, parse_scalar(text), f"--set {argument}")


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
