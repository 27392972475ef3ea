"""Finding and running the tools the deploy tests need (installed by scripts/install-tools.sh).

A missing tool fails the test that needs it, naming the script that installs it:
these tests skip nothing.
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "broadway-py"
DEPLOY = REPO / "deploy"
INSTALL = "scripts/install-tools.sh"


def _tools_dir() -> Path:
    configured = os.environ.get("TOOLS_DIR", ".tools")
    path = Path(configured)
    return path if path.is_absolute() else REPO / path


def tool(name: str) -> str:
    """The path of ``name``: .tools/bin, then the venv's bin, then PATH; else the test fails."""
    candidates = [_tools_dir() / "bin" / name, Path(sys.executable).parent / name]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    pytest.fail(f"{name} is not installed: run {INSTALL}", pytrace=False)


def load(module: str) -> Any:
    """Import a Python package the tests need; if it is missing the test fails, naming the fix."""
    try:
        return importlib.import_module(module)
    except ImportError:
        pytest.fail(f"the Python package {module!r} is missing: run {INSTALL}", pytrace=False)


def run(
    args: Sequence[str], *, cwd: Path = REPO, check: bool = True, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run a command, capturing its output; with ``check`` a non-zero exit fails the test."""
    result = subprocess.run(
        list(args), cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        pytest.fail(
            f"{' '.join(args)} exited {result.returncode}\n"
            f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}",
            pytrace=False,
        )
    return result


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run([tool("helm"), *args], check=check)
