"""The tables of docs/configuration.md, rendered from the options' one definition.

Each table sits between ``<!-- generated: NAME -->`` and ``<!-- end generated -->``
in the docs; :func:`refreshed` renders them again from the core option objects
(:mod:`broadway_py.option_spec`) and the file bounds (``config/limits.py``), so
a default, a bound or a doc is written in one place. A test fails when the
committed docs differ from what this renders. To regenerate::

    .venv/bin/python -m broadway_py.config.reference
"""

from __future__ import annotations

import dataclasses
import functools
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from broadway_py.config.limits import MAX_DEPTH, MAX_FILE_BYTES, MAX_VALUES
from broadway_py.config.models import MAX_BATCHERS, SECTIONS
from broadway_py.option_spec import WEEK, Option, options_of

DOCS = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
REGENERATE = ".venv/bin/python -m broadway_py.config.reference"

_REGION = re.compile(
    r"(<!-- generated: (?P<name>[a-z_]+) -->\n)(?P<body>.*?)(<!-- end generated -->)", re.DOTALL
)


def spaced(value: float) -> str:
    """``1 000 000``: a number as the docs write it."""
    if not float(value).is_integer():
        return f"{value:g}"
    return f"{int(value):,}".replace(",", " ")


def default_text(default: Any, described: Option) -> str:
    """The docs' default column."""
    if described.shown is not None:
        return described.shown
    if default is dataclasses.MISSING:
        return "required"
    if default is None:
        return "none"
    if isinstance(default, bool):
        return str(default).lower()
    if isinstance(default, tuple):
        return "[]"
    if isinstance(default, str):
        return f"`{default}`"
    return repr(default)


def bound_text(described: Option) -> str | None:
    """``1 to 10 000``, ``above 0, at most 604 800``; None when unbounded above."""
    if described.most is None:
        return None
    most = described.bound or spaced(described.most)
    if described.above is not None:
        text = f"above {spaced(described.above)}, at most {most}"
    else:
        text = f"{spaced(described.least or 0)} to {most}"
    if described.strict:
        text += " (`Pipeline.update_rate_limit` and the admin endpoint hold to it too)"
    return text


def options_table(section: str) -> str:
    """The ``key | default | doc`` table of one section."""
    cls, described = SECTIONS[section]
    rows = ["| key | default | |", "|---|---|---|"]
    for name, default, found in options_of(cls, described):
        rows.append(f"| `{name}` | {default_text(default, found)} | {found.doc} |")
    return "\n".join(rows) + "\n"


def _option_bounds() -> Iterator[tuple[str, str]]:
    for section, (cls, described) in SECTIONS.items():
        where = "batchers.*" if section == "batchers" else section
        for name, _, found in options_of(cls, described):
            text = bound_text(found)
            if text is not None:
                yield f"`{where}.{name}`", text


def bounds_table() -> str:
    """The Bounds table: the file's own bounds, then each bounded option's."""
    rows = [
        "| what | bound |",
        "|---|---|",
        "| the file | a regular file (not a named pipe, device or directory: refused without "
        f"opening it for a blocking read), at most {MAX_FILE_BYTES // (1 << 20)} MiB, UTF-8 |",
        "| characters | no control characters other than tab and line breaks (a NUL byte is "
        "reported at its line and column) |",
        "| documents | one YAML document; a second `---` is reported at its line |",
        f"| nesting | mappings and lists at most {MAX_DEPTH} levels deep, aliases expanded |",
        f"| values | at most {spaced(MAX_VALUES)} values, once aliases and `<<` merge keys are "
        'expanded (an "alias bomb" stops there) |',
        "| numbers | integers at most 2^63 - 1; no `.inf` / `.nan` (nor `'inf'`, `1e400`) |",
        "| types | `true` / `false` is not a number, a number is not a boolean, `3.0` is not "
        "a count |",
        f"| `batchers` | at most {MAX_BATCHERS} batchers |",
        *(f"| {what} | {text} |" for what, text in _option_bounds()),
        f"| every other duration in seconds | at most {spaced(WEEK)} (a week) |",
        "| `http.port` | 0..65535 |",
        "| Kafka byte and millisecond options | at most 2^31 - 1 (Java ints) |",
    ]
    return "\n".join(rows) + "\n"


TABLES: dict[str, Callable[[], str]] = {
    **{section: functools.partial(options_table, section) for section in SECTIONS},
    "bounds": bounds_table,
}


def refreshed(text: str) -> str:
    """``text`` with every generated table rendered again. Raises KeyError for an unknown one."""
    return _REGION.sub(
        lambda found: found.group(1) + TABLES[found.group("name")]() + found.group(4), text
    )


def regions(text: str) -> list[str]:
    """The names of the generated tables in ``text``, in order."""
    return [found.group("name") for found in _REGION.finditer(text)]


def main(argv: list[str]) -> int:
    """Rewrite the docs' generated tables (``--check``: only say whether they are stale)."""
    text = DOCS.read_text(encoding="utf-8")
    fresh = refreshed(text)
    if "--check" in argv:
        if fresh != text:
            print(f"{DOCS} is stale; run: {REGENERATE}", file=sys.stderr)
            return 1
        return 0
    DOCS.write_text(fresh, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
