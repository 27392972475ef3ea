"""Reads a pipeline file into plain data, remembering where every key and value was.

PyYAML composes the file into nodes (which carry their marks); a walk over the
nodes builds the plain data and a :class:`SourceMap` from each path
(``("producer", "kafka", "topics", 0)``) to the position of its key and of its
value, so that any later problem can be reported at ``file:line:col``.
Scalars are interpolated (``${VAR}``) during the walk; an unquoted scalar is
typed after interpolation (``port: ${PORT:9400}`` is the number 9400).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from broadway_py.config.interpolate import interpolate
from broadway_py.config.problems import Path, Position, Problems, dotted

_STR = "tag:yaml.org,2002:str"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"


@dataclass
class SourceMap:
    """Positions of the keys and values of a config tree."""

    root: Position
    values: dict[Path, Position] = field(default_factory=dict)
    keys: dict[Path, Position] = field(default_factory=dict)
    unresolved: set[Path] = field(default_factory=set)
    """Paths whose ``${VAR}`` could not be resolved (already reported)."""

    def value(self, path: Path) -> Position:
        """Where the value at ``path`` is (or its nearest known ancestor)."""
        for end in range(len(path), 0, -1):
            found = self.values.get(path[:end])
            if found is not None:
                return found
        return self.root

    def key(self, path: Path) -> Position:
        """Where the key of ``path`` is; its value's place when it has no key."""
        found = self.keys.get(path)
        return found if found is not None else self.value(path)

    def replace(self, path: Path, position: Position) -> None:
        """``path`` (and all below it) now comes from ``position`` (a ``--set``)."""
        for table in (self.values, self.keys):
            for known in [p for p in table if p[: len(path)] == path]:
                del table[known]
        self.values[path] = position
        self.keys[path] = position

    def alias(self, old: Path, new: Path) -> None:
        """Make everything known under ``old`` known under ``new`` too."""
        for table in (self.values, self.keys):
            for known, position in list(table.items()):
                if known[: len(old)] == old:
                    table[new + known[len(old) :]] = position


def position_of(source: str, mark: yaml.Mark | None) -> Position:
    if mark is None:
        return Position(source, 1, 1)
    return Position(source, mark.line + 1, mark.column + 1)


def load_yaml(
    text: str, source: str, env: Mapping[str, str], problems: Problems
) -> tuple[Any, SourceMap]:
    """Parse ``text``; problems go to ``problems``. Returns (data, positions)."""
    start = Position(source, 1, 1)
    try:
        documents = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        message = error.problem or error.context or "not valid YAML"
        if error.context and error.problem:
            message = f"{error.problem} ({error.context}"
            if error.context_mark is not None and error.context_mark is not mark:
                message += f" at line {error.context_mark.line + 1}"
            message += ")"
        problems.add(position_of(source, mark), f"YAML syntax error: {message}")
        return None, SourceMap(start)
    except yaml.YAMLError as error:
        problems.add(start, f"cannot read the file as YAML: {error}")
        return None, SourceMap(start)
    documents = [d for d in documents if d is not None]
    if not documents:
        problems.add(start, "the file is empty: expected a mapping with name, handler and producer")
        return None, SourceMap(start)
    for extra in documents[1:]:
        problems.add(
            position_of(source, extra.start_mark),
            "a pipeline file holds one YAML document; remove this '---' document",
        )
    root = documents[0]
    walker = _Walker(source, env, problems, SourceMap(position_of(source, root.start_mark)))
    data = walker.walk(root, ())
    return data, walker.positions


class _Walker:
    def __init__(
        self, source: str, env: Mapping[str, str], problems: Problems, positions: SourceMap
    ) -> None:
        self.source = source
        self.env = env
        self.problems = problems
        self.positions = positions
        self.constructor = yaml.SafeLoader("")
        self.resolver = yaml.SafeLoader("")
        self.active: set[int] = set()

    def at(self, node: Node) -> Position:
        return position_of(self.source, node.start_mark)

    def walk(self, node: Node, path: Path) -> Any:
        if id(node) in self.active:
            self.problems.add(self.at(node), "an alias refers to itself (a recursive structure)")
            return None
        self.active.add(id(node))
        try:
            if isinstance(node, MappingNode):
                return self.mapping(node, path)
            if isinstance(node, SequenceNode):
                return [self.child(item, (*path, index)) for index, item in enumerate(node.value)]
            assert isinstance(node, ScalarNode)
            return self.scalar(node, path)
        finally:
            self.active.discard(id(node))

    def child(self, node: Node, path: Path) -> Any:
        self.positions.values[path] = self.at(node)
        return self.walk(node, path)

    def mapping(self, node: MappingNode, path: Path) -> dict[Any, Any]:
        try:
            self.constructor.flatten_mapping(node)  # applies "<<" merge keys
        except yaml.MarkedYAMLError as error:
            self.problems.add(
                position_of(self.source, error.problem_mark), f"bad merge key: {error.problem}"
            )
        result: dict[Any, Any] = {}
        first_seen: dict[Any, Position] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                self.problems.add(self.at(key_node), "a key must be a plain value, not a list")
                continue
            key = key_node.value  # keys are names: "1:" or "on:" stay text
            key_at = self.at(key_node)
            if key in first_seen:
                self.problems.add(
                    key_at, f"duplicate key {key!r} (first at line {first_seen[key].line})"
                )
                continue
            first_seen[key] = key_at
            self.positions.keys[(*path, key)] = key_at
            result[key] = self.child(value_node, (*path, key))
        return result

    def scalar(self, node: ScalarNode, path: Path) -> Any:
        """The scalar's value, interpolated (keys are not: they are taken as text)."""
        tag = node.tag
        value = node.value
        if tag == _STR and "${" in value:
            found = interpolate(value, self.env)
            for problem in found.problems:
                self.problems.add(self.at(node), f"{dotted(path)}: {problem}")
            if found.problems:
                self.positions.unresolved.add(path)
            value = found.text
            if node.style is None:  # unquoted: type the result as YAML would
                tag = self.resolver.resolve(ScalarNode, value, (True, False))  # type: ignore[no-untyped-call]
        if tag == _TIMESTAMP:
            return value  # dates are not config values; keep the text
        try:
            return self.constructor.construct_object(
                ScalarNode(tag, value, node.start_mark, node.end_mark, node.style), deep=True
            )
        except yaml.MarkedYAMLError as error:
            self.problems.add(self.at(node), f"bad value {value!r}: {error.problem}")
        except (ValueError, TypeError) as error:
            self.problems.add(self.at(node), f"bad value {value!r}: {error}")
        return value
