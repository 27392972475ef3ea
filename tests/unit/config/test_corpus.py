"""The malformed-pipeline corpus (tests/corpus): every file is a located problem, exit 78.

Each ``tests/corpus/*.yaml`` ends with comments that say what it must produce:

- ``# expect: LINE:COL | text`` a problem line ``FILE:LINE:COL: ...text...``;
  ``# expect: - | text`` one at the file itself; ``# expect: --set KEY=... | text``
  one at that ``--set`` argument (``--set`` alone: the argument could not be read);
- ``# set: KEY=VALUE`` a ``--set`` argument to pass, ``# env: NAME=VALUE`` a variable;
- ``# secret: text`` text that must appear nowhere in the output.

Every file goes through ``validate`` and ``run`` in this process (fast), and all of
them through one ``broadway-py validate`` process under a memory limit; the kinds
that need a process of their own (a named pipe, a file past the size cap, handler
code that exits, memory bombs) also run as ``broadway-py run`` subprocesses.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from broadway_py.cli import main
from broadway_py.config.limits import MAX_FILE_BYTES, MAX_VALUES

CORPUS = Path(__file__).resolve().parents[2] / "corpus"
EX_CONFIG = 78
COMMAND = str(Path(sys.executable).with_name("broadway-py"))
MEMORY_LIMIT = 2 * 1024**3
"""A subprocess is killed past this much address space: a bomb must be refused before."""


@dataclass
class Case:
    path: Path
    expect: list[tuple[str, str]] = field(default_factory=list)
    sets: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)

    @property
    def arguments(self) -> list[str]:
        return [part for text in self.sets for part in ("--set", text)]


def read_case(path: Path) -> Case:
    case = Case(path)
    for line in path.read_bytes().decode("utf-8", "replace").splitlines():
        if not line.startswith("# "):
            continue
        kind, _, value = line[2:].partition(": ")
        if kind == "expect":
            where, _, text = value.partition(" | ")
            if where == "-":
                prefix = f"{path}: "
            elif where.startswith("--set"):
                prefix = f"{where}: "
            else:
                prefix = f"{path}:{where}"
            case.expect.append((prefix, text))
        elif kind == "set":
            case.sets.append(value)
        elif kind == "env":
            name, _, text = value.partition("=")
            case.env[name] = text
        elif kind == "secret":
            case.secrets.append(value)
    assert case.expect, f"{path.name} has no '# expect:' line"
    return case


CASES = [read_case(path) for path in sorted(CORPUS.glob("*.yaml"))]


def check_output(case: Case, out: str, err: str) -> None:
    """Every expected problem is there, and nothing else: no traceback, no secret."""
    assert "Traceback" not in out + err
    lines = err.splitlines()
    for prefix, text in case.expect:
        assert any(line.startswith(prefix) and text in line for line in lines), (
            f"{case.path.name}: no line {prefix!r}...{text!r} in:\n{err}"
        )
    assert len(lines) == len(case.expect), f"{case.path.name}: expected {case.expect}, got:\n{err}"
    for secret in case.secrets:
        assert secret not in out + err, f"{case.path.name}: {secret!r} was printed"


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 60


@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.parametrize("case", CASES, ids=[c.path.stem for c in CASES])
def test_each_file_is_a_located_config_error(
    case: Case,
    command: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in case.env.items():
        monkeypatch.setenv(name, value)
    assert main([command, str(case.path), *case.arguments]) == EX_CONFIG
    captured = capsys.readouterr()
    check_output(case, captured.out, captured.err)


LIMITED = (
    "import os, resource, sys; "
    "resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[1]), int(sys.argv[1]))); "
    "os.execv(sys.argv[2], sys.argv[2:])"
)
"""Runs a command (argv[2:]) with its address space limited to argv[1] bytes."""


def broadway(*arguments: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CORPUS_")}
    return subprocess.run(
        [sys.executable, "-c", LIMITED, str(MEMORY_LIMIT), COMMAND, *arguments],
        capture_output=True,
        text=True,
        timeout=60,
        env=environment,
        cwd=cwd,
        check=False,
    )


def test_every_plain_file_in_one_validate_process() -> None:
    plain = [case for case in CASES if not case.sets and not case.env]
    done = broadway("validate", *(str(case.path) for case in plain))
    assert done.returncode == EX_CONFIG
    assert "Traceback" not in done.stdout + done.stderr
    for case in plain:
        mine = "\n".join(
            line for line in done.stderr.splitlines() if line.startswith(str(case.path))
        )
        check_output(case, "", mine)


@pytest.mark.parametrize(
    "name",
    [
        "handler_init_system_exit",
        "handler_import_system_exit",
        "handler_import_keyboard_interrupt",
        "alias_bomb",
        "merge_bomb",
        "deep_flow_nesting",
    ],
)
def test_run_in_a_process_of_its_own(name: str) -> None:
    (case,) = [case for case in CASES if case.path.stem == name]
    done = broadway("run", str(case.path))
    assert done.returncode == EX_CONFIG, done.stderr
    check_output(case, done.stdout, done.stderr)


@pytest.mark.parametrize("command", ["validate", "run"])
def test_a_named_pipe_is_refused_without_blocking(command: str, tmp_path: Path) -> None:
    fifo = tmp_path / "pipeline.yaml"
    os.mkfifo(fifo)
    done = broadway(command, str(fifo))
    assert done.returncode == EX_CONFIG
    assert done.stderr == f"{fifo}: is a named pipe, not a pipeline file (a regular file)\n"


@pytest.mark.parametrize("command", ["validate", "run"])
def test_a_file_past_the_size_cap_is_refused_at_once(command: str, tmp_path: Path) -> None:
    large = tmp_path / "pipeline.yaml"
    large.write_text("name: big\n" + "#" * (10 * 1024 * 1024) + "\n")
    done = broadway(command, str(large))
    assert done.returncode == EX_CONFIG
    assert done.stderr.startswith(f"{large}: the file is too large (")
    assert f"a pipeline file is at most {MAX_FILE_BYTES} bytes (1 MiB)" in done.stderr


def test_a_file_with_too_many_values_is_refused_while_composing(tmp_path: Path) -> None:
    many = tmp_path / "pipeline.yaml"
    many.write_text("name: many\nvalues: [" + ", ".join(["1"] * (MAX_VALUES + 10)) + "]\n")
    done = broadway("run", str(many))
    assert done.returncode == EX_CONFIG
    # The mapping, name, its value, values and the list come first: item MAX_VALUES - 4 is one
    # too many, at index MAX_VALUES - 5.
    column = len("values: [") + 3 * (MAX_VALUES - 5) + 1
    assert done.stderr == (
        f"{many}:2:{column}: YAML too large: the file holds more than {MAX_VALUES} values\n"
    )


def test_a_directory_and_a_device_are_refused(tmp_path: Path) -> None:
    done = broadway("validate", str(tmp_path), "/dev/zero")
    assert done.returncode == EX_CONFIG
    assert done.stderr.splitlines() == [
        f"{tmp_path}: is a directory, not a pipeline file (a regular file)",
        "/dev/zero: is a character device, not a pipeline file (a regular file)",
    ]


def test_a_module_beside_the_file_does_not_shadow_an_installed_package(tmp_path: Path) -> None:
    (tmp_path / "aiohttp.py").write_text('raise RuntimeError("the shadowing aiohttp.py ran")\n')
    (tmp_path / "corpus_shadow_handlers.py").write_text(
        "import aiohttp.web\n\n\ndef handle(message):\n    return message\n"
    )
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(
        "name: shadow\nhandler: corpus_shadow_handlers:handle\nproducer:\n  generator: {}\n"
    )
    done = broadway("validate", str(pipeline), cwd=CORPUS)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{pipeline}: ok")
