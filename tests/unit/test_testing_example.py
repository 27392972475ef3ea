"""The README's "Testing a pipeline file" shows the example files as they are, and they run."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "testing"
PLUGIN = "broadway_py.testing.pytest_plugin"


def section_fences() -> dict[str, str]:
    """The fenced blocks of the README's "Testing a pipeline file", by language."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Testing a pipeline file", 1)[1].split("\n## ", 1)[0]
    return dict(re.findall(r"```(\w+)\n(.*?)```", section, re.S))


def test_the_readme_shows_the_example_pipeline_file_as_it_is() -> None:
    assert section_fences()["yaml"] == (EXAMPLE / "orders_pipeline.yaml").read_text()


def test_each_test_the_readme_shows_is_in_the_example_test_module() -> None:
    tests = (EXAMPLE / "test_orders_pipeline.py").read_text()
    shown = [b for b in section_fences()["python"].split("\n\n\n") if b.startswith("async def")]
    assert len(shown) == 2
    for block in shown:
        assert block.strip() in tests


def test_the_pytest_plugin_is_declared_under_its_module_name() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["pytest11"] == {PLUGIN: PLUGIN}
    assert callable(importlib.import_module(PLUGIN).broadway_pipeline)


def test_the_example_tests_pass_when_run_from_their_folder() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_orders_pipeline.py"],
        cwd=EXAMPLE,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 passed" in done.stdout
