"""``make dist`` and the wheel it builds, installed into a fresh virtualenv outside the clone.

The package is on no index: another project installs it from the clone or from
this wheel (README, "Installing into another project"). ``python -m build``
builds the wheel from the sdist, so a wheel that holds the whole package also
shows that the sdist holds what a build needs. The fresh virtualenv gets its
dependencies from the package index.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from dataclasses import dataclass
from email.message import Message
from email.parser import Parser
from pathlib import Path

import pytest

import broadway_py

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
VERSION: str = broadway_py.__version__  # the one definition; pyproject reads it (hatch)
DIST_NAME = PROJECT["name"].replace("-", "_")
EXAMPLE = ("demo.yaml", "demo_handlers.py")  # config/: a pipeline and the handler module beside it

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@dataclass(frozen=True)
class Dist:
    sdist: Path
    wheel: Path


def clean_env() -> dict[str, str]:
    """The environment without anything that would point Python back at the clone or its venv."""
    drop = {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "PYTHONSTARTUP"}
    return {k: v for k, v in os.environ.items() if k not in drop}


def run(cwd: Path, *command: str | Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def package_files() -> set[str]:
    """The package's files in the clone, as paths relative to the repository root."""
    return {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "broadway_py").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Dist:
    """``make dist`` into a temporary folder, with the venv running these tests."""
    out = tmp_path_factory.mktemp("dist") / "dist"
    venv = Path(sys.prefix)
    # -o: take the venv as installed (it runs these tests) rather than reinstalling it here.
    make = ["make", "--no-print-directory", "-o", f"{venv}/.installed"]
    result = run(ROOT, *make, "dist", f"VENV={venv}", f"DIST={out}", timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    built = sorted(p.name for p in out.iterdir())
    sdist_name = f"{DIST_NAME}-{VERSION}.tar.gz"
    wheel_name = f"{DIST_NAME}-{VERSION}-py3-none-any.whl"
    assert built == sorted([sdist_name, wheel_name]), built
    return Dist(sdist=out / sdist_name, wheel=out / wheel_name)


@pytest.fixture(scope="module")
def venv_bin(dist: Dist, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with the wheel and its kafka extra installed, as the README says."""
    venv = tmp_path_factory.mktemp("fresh") / "venv"
    created = run(venv.parent, sys.executable, "-m", "venv", venv, timeout=120)
    assert created.returncode == 0, created.stdout + created.stderr
    pip: list[str | Path] = [venv / "bin" / "python", "-m", "pip", "install", "--quiet"]
    result = run(venv.parent, *pip, f"{dist.wheel}[kafka]", timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    return venv / "bin"


def wheel_metadata(wheel: Path) -> Message:
    with zipfile.ZipFile(wheel) as archive:
        text = archive.read(f"{DIST_NAME}-{VERSION}.dist-info/METADATA").decode()
    return Parser().parsestr(text, headersonly=True)


def test_sdist_holds_the_package_and_the_build_files(dist: Dist) -> None:
    top = f"{DIST_NAME}-{VERSION}/"
    with tarfile.open(dist.sdist) as archive:
        names = {m.name.removeprefix(top) for m in archive.getmembers() if m.isfile()}
    expected = package_files() | {"pyproject.toml", "README.md", "PKG-INFO"}
    assert expected <= names, sorted(expected - names)
    # Nothing else from the clone: no tests, scripts or stray READMEs from other folders.
    assert names - expected <= {".gitignore"}, sorted(names - expected)


def test_wheel_built_from_the_sdist_holds_the_whole_package(dist: Dist) -> None:
    with zipfile.ZipFile(dist.wheel) as archive:
        names = {n for n in archive.namelist() if not n.startswith(f"{DIST_NAME}-{VERSION}.")}
    assert names == package_files(), sorted(names ^ package_files())


def test_wheel_metadata_names_every_extra_and_the_command(dist: Dist) -> None:
    metadata = wheel_metadata(dist.wheel)
    assert metadata["Name"] == PROJECT["name"]
    assert metadata["Version"] == VERSION
    extras = set(PROJECT["optional-dependencies"])
    assert extras == {"kafka", "rabbitmq", "sqs", "fast", "otel", "all"}
    assert set(metadata.get_all("Provides-Extra") or []) == extras
    requires = metadata.get_all("Requires-Dist") or []
    for extra, client in [
        ("kafka", "aiokafka"),
        ("rabbitmq", "aio-pika"),
        ("sqs", "aiobotocore"),
        ("fast", "uvloop"),
        ("otel", "opentelemetry-sdk"),
    ]:
        for wanted in (extra, "all"):
            found = [r for r in requires if r.startswith(client) and f"extra == '{wanted}'" in r]
            assert found, (client, wanted, requires)
    with zipfile.ZipFile(dist.wheel) as archive:
        entry_points = archive.read(f"{DIST_NAME}-{VERSION}.dist-info/entry_points.txt").decode()
    assert "broadway-py = broadway_py.cli:main" in entry_points


def test_installed_wheel_is_the_one_imported(venv_bin: Path, tmp_path: Path) -> None:
    code = "import aiokafka, broadway_py; print(broadway_py.__file__)"
    result = run(tmp_path, venv_bin / "python", "-c", code)
    assert result.returncode == 0, result.stderr
    imported = Path(result.stdout.strip())
    assert imported.is_relative_to(venv_bin.parent), imported
    assert not imported.is_relative_to(ROOT), imported


def test_installed_command_validates_an_example_outside_the_clone(
    venv_bin: Path, tmp_path: Path
) -> None:
    for name in EXAMPLE:
        shutil.copy(ROOT / "config" / name, tmp_path / name)
    result = run(tmp_path, venv_bin / "broadway-py", "validate", EXAMPLE[0])
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().startswith(f"{EXAMPLE[0]}: ok (pipeline 'demo'"), result.stdout


def test_installed_command_prints_the_version(venv_bin: Path, tmp_path: Path) -> None:
    result = run(tmp_path, venv_bin / "broadway-py", "version")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith(f"broadway-py {VERSION} "), result.stdout


def test_readme_installs_the_wheel_that_make_dist_builds(dist: Dist) -> None:
    readme = (ROOT / "README.md").read_text()
    assert f"pip install 'dist/{dist.wheel.name}[kafka]'" in readme
