"""Every ```yaml snippet in README.md and docs/*.md validates as a pipeline file.

Each snippet is validated as ``broadway-py validate`` does (:func:`load_pipeline`:
load, validate, build), after being made into a whole file by these rules, in
this order:

1. **Not a pipeline.** A snippet whose fence comes right after the line
   ``<!-- not a pipeline -->`` (blank lines between allowed) is skipped: helm
   values, Kubernetes manifests, compose files, Prometheus rules. The marker is
   the only way out, so nothing is skipped silently; a marked snippet whose
   top-level keys are all pipeline keys is an error (the marker would hide it).
2. **Continuation.** A snippet whose first line is indented shows keys of the
   previous yaml snippet of the same file (``    ssl: ...`` below a
   ``producer: kafka:`` example): each of its keys replaces the key of the same
   name at the same indentation in that snippet (as it was made whole), which
   must exist exactly once.
3. **Whole file.** A snippet with ``name`` and ``producer`` (or ``producers``) is
   validated as is.
4. **Fragment.** A snippet whose top-level keys are all pipeline keys
   (:class:`PipelineSpec`'s fields) is completed from :data:`BASE`: the
   snippet's keys replace the base's, the base supplies the others.

Anything else (a list, unknown top-level keys) fails: mark it or fix it.

References (``handler: orders_handlers:OrderHandler``, ``transformer``,
``partition_by``, ``never_retry``) name modules that do not exist here. Each
module a snippet references is a stand-in put in ``sys.modules`` for the test
(the loader imports through ``importlib``, which finds it there): it holds each
referenced name, made as what its place needs (a Handler subclass with
handle_message and handle_batch, a function of one message, an exception
class). The reference text is left as written, so its syntax is still checked.

``${NAME}`` without a default gets a dummy value (:data:`DUMMY_ENV`, else
``dummy``); ``${NAME:default}`` takes its default: nothing else is in the
environment the snippet sees.

A failure names the fence's ``file:line``; a problem inside the snippet is
reported at its own line of the doc.
"""

from __future__ import annotations

import re
import sys
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from broadway_py.config import ConfigFileError, PipelineSpec, load_pipeline
from broadway_py.handler import Handler
from broadway_py.message import BatchInfo, Message

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
NOT_A_PIPELINE = "<!-- not a pipeline -->"
PIPELINE_KEYS = frozenset(PipelineSpec.model_fields)

STAND_IN_HANDLER = "docs_snippet_stand_in:Passthrough"
BASE = f"""\
name: docs-snippet
handler: {STAND_IN_HANDLER}
producer:
  generator:
    count: 1
"""
"""The minimal pipeline a fragment is completed from."""

DUMMY_ENV = {
    "RABBITMQ_URL": "amqp://guest:guest@127.0.0.1:5672/",
    "KAFKA_BOOTSTRAP": "127.0.0.1:9092",
}
"""Values for ``${NAME}`` (no default) where ``dummy`` would not be valid."""

_FENCE = re.compile(r"^\s*```\s*(\S*)")
_KEY = re.compile(r"^( *)([A-Za-z_][\w-]*)\s*:")
_REQUIRED_VARIABLE = re.compile(r"\$\{([A-Za-z_]\w*)\}")


@dataclass(frozen=True)
class Snippet:
    doc: str  # relative to the repository root
    fence: int  # 1-based line of the opening fence
    text: str
    marked: bool
    previous: str | None  # the file's previous yaml snippet, made whole

    @property
    def where(self) -> str:
        return f"{self.doc}:{self.fence}"


def _blocks(path: Path) -> Iterator[tuple[int, str, bool]]:
    """(fence line, text, marked) of each yaml fence in a markdown file."""
    lines = path.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        end = index + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        if opening.group(1) in ("yaml", "yml"):
            before = [line.strip() for line in lines[:index] if line.strip()]
            marked = bool(before) and before[-1] == NOT_A_PIPELINE
            yield index + 1, "\n".join(lines[index + 1 : end]) + "\n", marked
        index = end + 1


def _indent(text: str) -> int:
    """The indentation of the first line that is not blank (0 for a blank text)."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    return len(first) - len(first.lstrip(" "))


def _continue(previous: str, fragment: str) -> str:
    """``previous`` with each key of the indented ``fragment`` replaced (see rule 2)."""
    indent = _indent(fragment)
    lines = previous.splitlines()
    pieces: list[tuple[str, list[str]]] = []
    for line in fragment.splitlines():
        key = _KEY.match(line)
        if key is not None and len(key.group(1)) == indent:
            pieces.append((key.group(2), [line]))
        elif pieces:
            pieces[-1][1].append(line)
    if not pieces:
        raise ValueError(f"no key at indentation {indent}")
    for name, replacement in pieces:
        starts = [
            i
            for i, line in enumerate(lines)
            if (key := _KEY.match(line)) and len(key.group(1)) == indent and key.group(2) == name
        ]
        if len(starts) != 1:
            raise ValueError(
                f"the previous snippet has {len(starts)} {name!r} keys at indentation "
                f"{indent}, not one"
            )
        start = end = starts[0]
        end += 1
        while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) > indent):
            end += 1
        lines[start:end] = replacement
    return "\n".join(lines) + "\n"


def _top_level_keys(text: str) -> set[str] | None:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return set()  # the loader reports the syntax error
    return {str(key) for key in data} if isinstance(data, dict) else None


def _whole(snippet: Snippet) -> str:
    """The snippet made into a whole pipeline file (rules 2-4); ValueError when it cannot be."""
    if _indent(snippet.text) > 0:
        if snippet.previous is None:
            raise ValueError("an indented snippet, but no yaml snippet before it in the file")
        return _continue(snippet.previous, snippet.text)
    keys = _top_level_keys(snippet.text)
    if keys is None:
        raise ValueError(f"not a mapping: mark it with {NOT_A_PIPELINE} if not a pipeline")
    if "name" in keys and keys & {"producer", "producers"}:
        return snippet.text
    unknown = keys - PIPELINE_KEYS
    if unknown:
        raise ValueError(
            f"top-level keys {sorted(unknown)} are not pipeline keys: fix them, or mark "
            f"the snippet with {NOT_A_PIPELINE}"
        )
    base = yaml.safe_load(BASE)
    kept = {key: value for key, value in base.items() if key not in keys}
    return snippet.text + yaml.safe_dump(kept, sort_keys=False)


def _snippets() -> list[Snippet]:
    found: list[Snippet] = []
    for path in DOCS:
        previous: str | None = None
        for fence, text, marked in _blocks(path):
            snippet = Snippet(str(path.relative_to(ROOT)), fence, text, marked, previous)
            found.append(snippet)
            if not marked:
                try:
                    previous = _whole(snippet)
                except ValueError:
                    previous = None
    return found


SNIPPETS = _snippets()


def _references(data: Any) -> Iterator[tuple[str, str]]:
    """(kind, reference) of each import path in a pipeline's data."""

    def at(node: Any, *path: str | int) -> Any:
        for part in path:
            if isinstance(node, dict):
                node = node.get(part)
            elif isinstance(node, list) and isinstance(part, int) and part < len(node):
                node = node[part]
            else:
                return None
        return node

    yield "handler", at(data, "handler")
    yield "function", at(data, "producer", "transformer")
    producers = at(data, "producers")
    for producer in producers.values() if isinstance(producers, dict) else ():
        yield "function", at(producer, "transformer")
    yield "function", at(data, "processors", "partition_by")
    batchers = at(data, "batchers")
    for batcher in batchers.values() if isinstance(batchers, dict) else batchers or []:
        yield "function", at(batcher, "partition_by")
    never = at(data, "retry", "never_retry")
    for exception in never if isinstance(never, list) else []:
        yield "exception", exception


def _made(kind: str, name: str) -> Any:
    if kind == "handler":

        class StandIn(Handler):
            def handle_message(self, message: Message) -> Message:
                return message

            def handle_batch(
                self, batcher: str, messages: list[Message], info: BatchInfo
            ) -> list[Message]:
                return messages  # a snippet with batchers needs one

        StandIn.__name__ = StandIn.__qualname__ = name
        return StandIn
    if kind == "exception":
        return type(name, (Exception,), {})

    def function(message: Message) -> Message:
        return message

    function.__name__ = function.__qualname__ = name
    return function


def _install_stand_ins(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return  # the loader reports it
    modules: dict[str, types.ModuleType] = {}
    for kind, reference in _references(data):
        if not isinstance(reference, str) or ":" not in reference:
            continue  # absent, metadata.<key>, a built-in exception: nothing to import
        module_name, _, attribute = reference.partition(":")
        module = modules.setdefault(module_name, types.ModuleType(module_name))
        node: Any = module
        *outer, last = attribute.split(".")
        for part in outer:
            node = getattr(node, part, None) or _set(node, part, types.SimpleNamespace())
        setattr(node, last, _made(kind, last))
    for module_name, module in modules.items():
        monkeypatch.setitem(sys.modules, module_name, module)


def _set(node: Any, name: str, value: Any) -> Any:
    setattr(node, name, value)
    return value


def _located(snippet: Snippet, error: ConfigFileError, whole: str, written: Path) -> str:
    inside = 0 if _indent(snippet.text) else len(snippet.text.splitlines())
    lines = []
    for problem in error.problems:
        position = problem.position
        if position.source == str(written) and 0 < position.line <= inside:
            where = f"{snippet.doc}:{snippet.fence + position.line}:{position.column}"
        elif position.source == str(written):
            where = f"{snippet.where} (line {position.line} of the file made whole)"
        else:
            where = f"{snippet.where} ({position})"
        lines.append(f"  {where}: {problem.message}")
    return "\n".join([f"{snippet.where}: the yaml snippet does not validate:", *lines, whole])


def test_the_docs_have_yaml_snippets_of_each_kind() -> None:
    # The rules above are all in use: if one kind disappears, its rule is dead code.
    kinds = {
        "marked": [s.where for s in SNIPPETS if s.marked],
        "indented": [s.where for s in SNIPPETS if not s.marked and _indent(s.text) > 0],
        "whole": [s.where for s in SNIPPETS if {"name", "producer"} <= _keys(s.text)],
        "fragment": [
            s.where
            for s in SNIPPETS
            if not s.marked and _indent(s.text) == 0 and "name" not in _keys(s.text)
        ],
    }
    assert all(kinds.values()), kinds
    assert len(SNIPPETS) >= 10, kinds


def _keys(text: str) -> set[str]:
    return _top_level_keys(text) or set()


@pytest.mark.parametrize("snippet", SNIPPETS, ids=[s.where for s in SNIPPETS])
def test_yaml_snippet_validates(
    snippet: Snippet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if snippet.marked:
        keys = _top_level_keys(snippet.text)
        assert keys is None or not keys <= PIPELINE_KEYS, (
            f"{snippet.where}: marked {NOT_A_PIPELINE}, but its top-level keys "
            f"{sorted(keys or ())} are all pipeline keys"
        )
        return
    try:
        whole = _whole(snippet)
    except ValueError as error:
        pytest.fail(f"{snippet.where}: {error}")
    written = tmp_path / "snippet.yaml"
    written.write_text(whole, encoding="utf-8")
    env = {name: DUMMY_ENV.get(name, "dummy") for name in _REQUIRED_VARIABLE.findall(whole)}
    monkeypatch.setattr(sys, "path", list(sys.path))  # the loader appends search paths
    _install_stand_ins(whole, monkeypatch)
    try:
        loaded, pipeline = load_pipeline(written, env=env)
    except ConfigFileError as error:
        pytest.fail(_located(snippet, error, whole, written))
    assert pipeline.name == loaded.spec.name
