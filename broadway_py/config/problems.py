"""Config problems: what is wrong, and where (``file:line:col``).

Every step of loading a pipeline file (YAML parsing, ``${VAR}`` interpolation,
``--set`` overrides, validation, imports, building) adds :class:`Problem` s to
a :class:`Problems` collector instead of stopping at the first one; the
loader raises :class:`ConfigFileError` with all of them, sorted by position.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from broadway_py.errors import BroadwayError

Path = tuple[str | int, ...]
"""Where a value sits in the config tree: ``("producer", "kafka", "topics", 0)``."""


@dataclass(frozen=True, order=True)
class Position:
    """A place in a source: a file with 1-based line and column, or a ``--set`` argument."""

    source: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line:
            return f"{self.source}:{self.line}:{self.column}"
        return self.source


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with a config, printed as ``file:line:col: message``."""

    position: Position
    message: str

    def __str__(self) -> str:
        return f"{self.position}: {self.message}"


def dotted(path: Path) -> str:
    """``("batchers", "db", "batch_size")`` -> ``batchers.db.batch_size``; lists as ``[0]``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


class ConfigFileError(BroadwayError):
    """A pipeline file (or its overrides) is not valid; ``problems`` says where and why."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = sorted(set(problems))
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass
class Problems:
    """Collects problems; raise them all at once with :meth:`raise_if_any`."""

    found: list[Problem] = field(default_factory=list)

    def add(self, position: Position, message: str) -> None:
        self.found.append(Problem(position, message))

    def extend(self, problems: Iterable[Problem]) -> None:
        self.found.extend(problems)

    def __bool__(self) -> bool:
        return bool(self.found)

    def raise_if_any(self) -> None:
        if self.found:
            raise ConfigFileError(self.found)
