"""The Dockerfile: lint-clean, pinned, non-root, exec-form, installing from the lock files."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.deploy.dockerfile_stages import PIPELINE_PATH, instructions, only, stages
from tests.deploy.tools import REPO, run, tool

PINNED_BASE = re.compile(
    r"^python:3\.11\.\d+-slim(-[a-z]+)?(@sha256:[0-9a-f]{64})?$|^python@sha256:[0-9a-f]{64}$"
)


def test_hadolint_finds_nothing() -> None:
    result = run([tool("hadolint"), "--no-color", "Dockerfile"], check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not result.stdout.strip(), result.stdout


def test_multi_stage_from_a_pinned_slim_python_311() -> None:
    all_stages = stages()
    assert len(all_stages) >= 2, "build and runtime stages expected"
    for stage in all_stages:
        image = stage[0].value[0]
        assert PINNED_BASE.match(image), (
            f"base image {image!r} is not an exact slim 3.11 tag or digest"
        )
    # The runtime stage is a fresh base, not the build stage.
    assert all_stages[-1][0].value[0] == all_stages[0][0].value[0]


def test_runtime_stage_runs_as_a_numeric_non_root_user() -> None:
    user = only(stages()[-1], "USER").value[0]
    uid, _, gid = user.partition(":")
    assert uid.isdigit(), f"USER {user!r} must be a numeric uid"
    assert int(uid) > 0, f"USER {user!r} must not be root"
    assert not gid or (gid.isdigit() and int(gid) > 0), f"USER {user!r}: numeric non-root gid"


def test_exec_form_entrypoint_and_documented_pipeline_path() -> None:
    final = stages()[-1]
    entrypoint = only(final, "ENTRYPOINT")
    assert entrypoint.json, "ENTRYPOINT must be exec (JSON) form: SIGTERM reaches broadway-py"
    assert list(entrypoint.value) == ["broadway-py"]
    cmd = only(final, "CMD")
    assert cmd.json
    assert list(cmd.value[:2]) == ["run", PIPELINE_PATH]
    assert list(only(final, "STOPSIGNAL").value) == ["SIGTERM"]
    assert "9400" in only(final, "EXPOSE").value
    healthcheck = only(final, "HEALTHCHECK")
    assert healthcheck.json, "HEALTHCHECK must not need a shell"
    docs = (REPO / "docs" / "deploy.md").read_text()
    assert PIPELINE_PATH in docs, "docs/deploy.md must document the pipeline file's path"


def test_dependencies_come_from_the_lock_files_with_hashes() -> None:
    runs = " \n".join(" ".join(c.value) for c in instructions() if c.cmd == "RUN")
    for lock in ("requirements.lock", "requirements-build.lock"):
        assert re.search(rf"pip install [^&]*--require-hashes[^&]*-r {re.escape(lock)}", runs), lock
    # Nothing else is installed from an index: the only other pip install is the
    # project's own wheel, with --no-deps.
    for command in re.findall(r"pip install [^&]*", runs):
        assert "-r " in command or ("--no-deps" in command and ".whl" in command), command
    final_runs = [" ".join(c.value) for c in stages()[-1] if c.cmd == "RUN"]
    assert not any("pip install" in r or "apt-get install" in r for r in final_runs)


def _lock(path: Path) -> dict[str, str]:
    """Package -> pinned version, checking every entry is pinned with a hash."""
    pins: dict[str, str] = {}
    text = path.read_text()
    for entry in re.split(r"\n(?=[A-Za-z0-9])", text):
        entry = entry.strip()
        if not entry or entry.startswith("#"):
            continue
        head = entry.split("\\", 1)[0].strip()
        name, sep, version = head.partition("==")
        assert sep, f"{path.name}: {head!r} is not pinned with =="
        assert "--hash=sha256:" in entry, f"{path.name}: {head!r} has no hash"
        pins[canonicalize_name(name)] = version.strip()
    return pins


def test_lock_files_cover_pyproject() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    runtime = _lock(REPO / "requirements.lock")
    project = pyproject["project"]
    wanted = list(project["dependencies"])
    for extra, requirements in project["optional-dependencies"].items():
        if extra != "all":
            wanted += requirements
    build = _lock(REPO / "requirements-build.lock")
    for requirement_text, pins, lock in [
        *((r, runtime, "requirements.lock") for r in wanted),
        *((r, build, "requirements-build.lock") for r in pyproject["build-system"]["requires"]),
    ]:
        requirement = Requirement(requirement_text)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{lock} lacks {name}: run scripts/lock.sh"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{lock} pins {name}=={pins[name]}, outside {requirement.specifier}: "
            "run scripts/lock.sh"
        )


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's .dockerignore rule: the last pattern matching the path or a parent wins."""
    parts = path.strip("/").split("/")
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        body = pattern[1:] if negate else pattern
        body = body.strip("/")
        for depth in range(1, len(parts) + 1):
            prefix = "/".join(parts[:depth])
            if fnmatch.fnmatchcase(prefix, body) or (
                body.startswith("**/") and fnmatch.fnmatchcase(parts[depth - 1], body[3:])
            ):
                ignored = not negate
                break
    return ignored


def test_copied_files_exist_and_are_not_dockerignored() -> None:
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    copies = [
        c for c in instructions() if c.cmd == "COPY" and not any("--from" in f for f in c.flags)
    ]
    assert copies
    for copy in copies:
        for source in copy.value[:-1]:
            assert (REPO / source).exists(), f"COPY {source}: no such file"
            assert not _ignored(source, patterns), f"COPY {source}: excluded by .dockerignore"
    # And what must never reach the build context stays out.
    for private in (".venv/bin/python", ".git/HEAD", ".tools/bin/helm", "tests/support.py"):
        assert _ignored(private, patterns), f"{private} is not excluded by .dockerignore"
