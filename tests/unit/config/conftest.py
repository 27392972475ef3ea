"""Fixtures for the config tests: pipeline files and handler modules in a temporary folder."""

from __future__ import annotations

import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

HANDLERS = """
from broadway_py import Handler


def handle(message):
    return message


def two_arguments(message, extra):
    return message


class Orders(Handler):
    def handle_message(self, message):
        return message

    def handle_batch(self, batcher, messages, info):
        return messages


class NeedsArguments(Handler):
    def __init__(self, url):
        self.url = url

    def handle_message(self, message):
        return message


class BadBatch(Handler):
    def handle_message(self, message):
        return message

    def handle_batch(self, messages):
        return messages


class NotAHandler:
    pass


def key(message):
    return message.metadata.get("key")


class Retryable(Exception):
    pass


LIMIT = 10
"""


class Workspace:
    """A folder for one test: ``module`` writes a uniquely named module, ``file`` a YAML file."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.handlers = self.module(HANDLERS)

    def module(self, source: str, prefix: str = "handlers") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        (self.root / f"{name}.py").write_text(textwrap.dedent(source))
        return name

    def file(self, text: str, name: str = "pipeline.yaml") -> Path:
        """Write ``text`` (dedented; ``{h}`` is the handlers module) and return its path."""
        path = self.root / name
        path.write_text(textwrap.dedent(text).lstrip("\n").replace("{h}", self.handlers))
        return path


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Workspace]:
    saved_path = list(sys.path)
    saved_modules = set(sys.modules)
    try:
        yield Workspace(tmp_path)
    finally:
        sys.path[:] = saved_path
        for name in set(sys.modules) - saved_modules:
            module_file = getattr(sys.modules[name], "__file__", None) or ""
            if module_file.startswith(str(tmp_path)):
                del sys.modules[name]
