"""Reads a pipeline file into plain data, remembering where every key and value was.

PyYAML composes the file into nodes (which carry their marks); a walk over the
nodes builds the plain data and a :class:`SourceMap` from each path
(``("producer", "kafka", "topics", 0)``) to the position of its key and of its
value, so that any later problem can be reported at ``file:line:col``.
Scalars are interpolated (``${VAR}``) during the walk; an unquoted scalar is
typed after interpolation (``port: ${PORT:9400}`` is the number 9400).

Both the composing and the walk are bounded (see :mod:`limits`): nesting depth
and the number of values are counted while composing, and again while the walk
expands aliases and ``<<`` merge keys, so an alias bomb or 20,000 nested lists
is a located problem, not a RecursionError or an exhausted memory.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from broadway_py.config.interpolate import interpolate
from broadway_py.config.limits import MAX_DEPTH, MAX_VALUES, number_problem, shorten
from broadway_py.config.problems import Path, Position, Problems, dotted

_STR = "tag:yaml.org,2002:str"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_MERGE = "tag:yaml.org,2002:merge"
_NOT_PRINTABLE = re.compile(
    "[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)
_MAX_CHARACTER_PROBLEMS = 5


@dataclass
class SourceMap:
    """Positions of the keys and values of a config tree."""

    root: Position
    values: dict[Path, Position] = field(default_factory=dict)
    keys: dict[Path, Position] = field(default_factory=dict)
    unresolved: set[Path] = field(default_factory=set)
    """Paths whose value was already reported (an unset ``${VAR}``, a number too large)."""

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


class _Limit(Exception):
    """A bound of :mod:`limits` was passed at ``mark``."""

    def __init__(self, mark: yaml.Mark | None, message: str) -> None:
        super().__init__(message)
        self.mark = mark
        self.message = message


class _Composer(yaml.SafeLoader):
    """SafeLoader's composer, counting depth and nodes and noting where documents start."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.depth = 0
        self.nodes = 0
        self.document_marks: list[yaml.Mark] = []

    def compose_document(self) -> Node | None:
        self.document_marks.append(self.peek_event().start_mark)  # type: ignore[no-untyped-call]
        return super().compose_document()

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
        self.depth += 1
        self.nodes += 1
        if self.depth > MAX_DEPTH:
            raise _Limit(mark, f"nested more than {MAX_DEPTH} levels deep")
        if self.nodes > MAX_VALUES:
            raise _Limit(mark, f"the file holds more than {MAX_VALUES} values")
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _compose(text: str) -> tuple[list[Node], list[yaml.Mark]]:
    composer = _Composer(text)
    try:
        documents: list[Node] = []
        while composer.check_node():
            node = composer.get_node()
            if node is not None:
                documents.append(node)
        return documents, composer.document_marks
    finally:
        composer.dispose()


def _character_problems(text: str, source: str, problems: Problems) -> bool:
    """Report characters YAML does not allow, at their line:col; whether there were any."""
    found = False
    for count, match in enumerate(_NOT_PRINTABLE.finditer(text)):
        if count == _MAX_CHARACTER_PROBLEMS:
            break
        found = True
        offset = match.start()
        line = text.count("\n", 0, offset) + 1
        column = offset - (text.rfind("\n", 0, offset) + 1) + 1
        problems.add(
            Position(source, line, column),
            f"character U+{ord(match.group()):04X} is not allowed in a YAML file "
            "(control characters other than tab and line breaks are not)",
        )
    return found


def load_yaml(
    text: str, source: str, env: Mapping[str, str] | None, problems: Problems
) -> tuple[Any, SourceMap]:
    """Parse ``text``; problems go to ``problems``. Returns (data, positions).

    ``env`` None: no ``${VAR}`` interpolation (a ``--set`` value).
    """
    start = Position(source, 1, 1)
    if _character_problems(text, source, problems):
        return None, SourceMap(start)
    try:
        documents, marks = _compose(text)
    except _Limit as limit:
        problems.add(position_of(source, limit.mark), f"YAML too large: {limit.message}")
        return None, SourceMap(start)
    except yaml.MarkedYAMLError as error:
        problems.add(position_of(source, error.problem_mark or error.context_mark), _syntax(error))
        return None, SourceMap(start)
    except yaml.YAMLError as error:
        problems.add(start, f"cannot read the file as YAML: {shorten(str(error), 200)}")
        return None, SourceMap(start)
    for mark in marks[1:]:
        problems.add(
            position_of(source, mark),
            "a pipeline file holds one YAML document; remove this '---' and what follows",
        )
    if not documents:
        problems.add(start, "the file is empty: expected a mapping with name, handler and producer")
        return None, SourceMap(start)
    root = documents[0]
    walker = _Walker(source, env, problems, SourceMap(position_of(source, root.start_mark)))
    try:
        data = walker.walk(root, (), 1)
    except _WalkLimit as limit:
        problems.add(limit.position, limit.message)
        return None, walker.positions
    return data, walker.positions


def _syntax(error: yaml.MarkedYAMLError) -> str:
    mark = error.problem_mark or error.context_mark
    message = error.problem or error.context or "not valid YAML"
    if error.context and error.problem:
        message = f"{error.problem} ({error.context}"
        if error.context_mark is not None and error.context_mark is not mark:
            message += f" at line {error.context_mark.line + 1}"
        message += ")"
    return f"YAML syntax error: {shorten(message, 200)}"


class _WalkLimit(_Limit):
    def __init__(self, position: Position, message: str) -> None:
        super().__init__(None, message)
        self.position = position


class _Walker:
    def __init__(
        self,
        source: str,
        env: Mapping[str, str] | None,
        problems: Problems,
        positions: SourceMap,
    ) -> None:
        self.source = source
        self.env = env
        self.problems = problems
        self.positions = positions
        self.constructor = yaml.SafeLoader("")
        self.resolver = yaml.SafeLoader("")
        self.active: set[int] = set()
        self.values = 0

    def at(self, node: Node) -> Position:
        return position_of(self.source, node.start_mark)

    def count(self, path: Path, depth: int) -> None:
        """Count one value at ``path``; past a bound, stop the walk with a problem."""
        self.values += 1
        top = path[:1]
        where = self.positions.key(top) if top else self.positions.root
        head = f"{dotted(top)}: " if top else ""
        if self.values > MAX_VALUES:
            raise _WalkLimit(
                where,
                f"{head}YAML too large: more than {MAX_VALUES} values once aliases and "
                "merge keys are expanded",
            )
        if depth > MAX_DEPTH:
            raise _WalkLimit(
                where,
                f"{head}YAML too large: nested more than {MAX_DEPTH} levels deep once aliases "
                "are expanded",
            )

    def walk(self, node: Node, path: Path, depth: int) -> Any:
        self.count(path, depth)
        if id(node) in self.active:
            self.problems.add(self.at(node), "an alias refers to itself (a recursive structure)")
            return None
        self.active.add(id(node))
        try:
            if isinstance(node, MappingNode):
                return self.mapping(node, path, depth)
            if isinstance(node, SequenceNode):
                return [
                    self.child(item, (*path, index), depth + 1)
                    for index, item in enumerate(node.value)
                ]
            assert isinstance(node, ScalarNode)
            return self.scalar(node, path)
        finally:
            self.active.discard(id(node))

    def child(self, node: Node, path: Path, depth: int) -> Any:
        self.positions.values[path] = self.at(node)
        return self.walk(node, path, depth)

    def pairs(self, node: MappingNode, path: Path, depth: int) -> list[tuple[Node, Node]]:
        """The mapping's pairs with ``<<`` merge keys applied (its own keys win)."""
        own: list[tuple[Node, Node]] = []
        merged: list[tuple[Node, Node]] = []
        for key_node, value_node in node.value:
            if key_node.tag != _MERGE:
                own.append((key_node, value_node))
                continue
            sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
            for merge in sources:
                if not isinstance(merge, MappingNode):
                    self.problems.add(
                        self.at(merge), "bad merge key: '<<' takes a mapping or a list of mappings"
                    )
                    continue
                if id(merge) in self.active:
                    self.problems.add(self.at(merge), "a merge key refers to its own mapping")
                    continue
                self.active.add(id(merge))
                try:
                    merged.extend(self.pairs(merge, path, depth + 1))
                finally:
                    self.active.discard(id(merge))
        if not merged:
            return own
        seen = {k.value for k, _ in own if isinstance(k, ScalarNode)}
        for key_node, value_node in merged:
            self.count(path, depth)  # every merged pair, kept or not: merges nest
            if isinstance(key_node, ScalarNode) and key_node.value not in seen:
                seen.add(key_node.value)
                own.append((key_node, value_node))
        return own

    def mapping(self, node: MappingNode, path: Path, depth: int) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        first_seen: dict[Any, Position] = {}
        for key_node, value_node in self.pairs(node, path, depth):
            if not isinstance(key_node, ScalarNode):
                self.problems.add(self.at(key_node), "a key must be a plain value, not a list")
                continue
            key = key_node.value  # keys are names: "1:" or "on:" stay text
            key_at = self.at(key_node)
            if key in first_seen:
                self.problems.add(
                    key_at,
                    f"duplicate key {shorten(repr(key))} (first at line {first_seen[key].line})",
                )
                continue
            first_seen[key] = key_at
            self.positions.keys[(*path, key)] = key_at
            result[key] = self.child(value_node, (*path, key), depth + 1)
        return result

    def scalar(self, node: ScalarNode, path: Path) -> Any:
        """The scalar's value, interpolated (keys are not: they are taken as text)."""
        tag = node.tag
        value = node.value
        if tag == _STR and "${" in value and self.env is not None:
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
            result = self.constructor.construct_object(
                ScalarNode(tag, value, node.start_mark, node.end_mark, node.style), deep=True
            )
        except (yaml.YAMLError, ValueError, TypeError, OverflowError) as error:
            # Python's own text would quote the value (which may be a secret): name the type.
            kind = tag.rsplit(":", 1)[-1]
            reason = "too many digits" if "digits" in str(error) else type(error).__name__
            self.problems.add(
                self.at(node), f"{dotted(path)}: cannot read the value as {kind} ({reason})"
            )
            self.positions.unresolved.add(path)
            return None
        wrong = number_problem(result)
        if wrong is not None:
            self.problems.add(self.at(node), f"{dotted(path)}: {wrong}")
            self.positions.unresolved.add(path)
            return None
        return result
