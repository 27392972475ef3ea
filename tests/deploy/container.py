"""Running the built image with podman: the image tests' one way to start, probe and stop it.

scripts/image-test.sh builds the image (or says why it cannot, exit 77, which
becomes a skip here); this module starts containers of it on the host's
loopback, each under a name of its own, and removes them by that name.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.deploy.tools import REPO

SCRIPT = REPO / "scripts" / "image-test.sh"
SKIPPED = 77
"""scripts/image-test.sh's exit code when containers cannot run on this host."""


@dataclass(frozen=True)
class Built:
    """The image scripts/image-test.sh built, and on which base."""

    image: str
    base_kind: str
    size_bytes: int
    run_flags: tuple[str, ...]


def _image_cache() -> Path:
    path = Path(os.environ.get("IMAGE_CACHE", ".image-cache"))
    return path if path.is_absolute() else REPO / path


def build_image() -> Built:
    """Build (or find, when nothing changed) the image; skip the test when podman cannot run."""
    result = subprocess.run(
        [str(SCRIPT), "build"], cwd=REPO, capture_output=True, text=True, timeout=900, check=False
    )
    if result.returncode == SKIPPED:
        reason = result.stdout.strip().removeprefix("SKIP: ") or "containers cannot run here"
        pytest.skip(f"image tests: {reason}")
    if result.returncode != 0:
        pytest.fail(
            f"scripts/image-test.sh build exited {result.returncode}\n{result.stderr[-4000:]}",
            pytrace=False,
        )
    env = dict(
        line.split("=", 1)
        for line in (_image_cache() / "image.env").read_text().splitlines()
        if "=" in line
    )
    flags = subprocess.run(
        [str(SCRIPT), "run-flags"], capture_output=True, text=True, check=True
    ).stdout.split()
    return Built(env["IMAGE"], env["BASE_KIND"], int(env["SIZE_BYTES"]), tuple(flags))


def free_port() -> int:
    """A loopback port nobody listens on now (the container binds it a moment later)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def podman(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["podman", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def http_get(port: int, path: str, timeout: float = 2) -> tuple[int, str]:
    """Status and body of GET http://127.0.0.1:port/path; (0, error) when nothing answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError as error:
        return 0, str(error)


@dataclass
class Container:
    """One detached container of the image, named uniquely, removed by :meth:`remove`."""

    built: Built
    args: Sequence[str]
    container_port: int = 9400
    """Published on a free port of the host's 127.0.0.1 (``port``)."""
    user: str = ""
    """--user; empty keeps the image's USER."""
    env: dict[str, str] = field(default_factory=dict)
    mounts: dict[Path, str] = field(default_factory=dict)
    """Host file or folder -> path in the container (mounted read-only)."""
    host_network: bool = False
    """Share the host's network (to reach brokers on its 127.0.0.1): nothing is
    published, and the process must itself listen on 127.0.0.1:``port``."""
    tmpfs_size: str = "64m"
    name: str = field(default_factory=lambda: f"broadway-test-{uuid.uuid4().hex[:10]}")
    port: int = field(default_factory=free_port)

    def start(self) -> None:
        command = [
            "run",
            "--detach",
            "--name",
            self.name,
            *self.built.run_flags,
            "--read-only",
            "--cap-drop",
            "ALL",
            "--security-opt",
            "no-new-privileges",
            "--tmpfs",
            f"/tmp:rw,size={self.tmpfs_size}",
        ]
        if self.host_network:
            command += ["--network", "host"]
        else:
            command += ["--publish", f"127.0.0.1:{self.port}:{self.container_port}"]
        if self.user:
            command += ["--user", self.user]
        for key, value in self.env.items():
            command += ["--env", f"{key}={value}"]
        for source, target in self.mounts.items():
            command += ["--volume", f"{source}:{target}:ro"]
        result = podman(*command, self.built.image, *self.args)
        assert result.returncode == 0, f"podman run failed: {result.stderr}"

    def state(self) -> dict[str, object]:
        result = podman("inspect", "--format", "{{json .State}}", self.name)
        assert result.returncode == 0, result.stderr
        state: dict[str, object] = json.loads(result.stdout)
        return state

    def wait_http(self, path: str, *, status: int = 200, timeout: float = 60) -> str:
        """Poll until ``path`` answers ``status``; its body. fails with the logs otherwise."""
        deadline = time.monotonic() + timeout
        last: tuple[int, str] = (0, "")
        while time.monotonic() < deadline:
            last = http_get(self.port, path)
            if last[0] == status:
                return last[1]
            if self.state().get("Running") is not True:
                break
            time.sleep(0.2)  # sleep-ok: poll interval while the container starts
        pytest.fail(
            f"{path} never answered {status} (last: {last}); logs:\n{self.logs()}", pytrace=False
        )

    def exec(self, *command: str) -> subprocess.CompletedProcess[str]:
        return podman("exec", self.name, *command)

    def stop(self, grace_seconds: int) -> tuple[int, float]:
        """SIGTERM, then SIGKILL after ``grace_seconds``: (exit code, seconds it took)."""
        started = time.monotonic()
        result = podman("stop", "--time", str(grace_seconds), self.name, timeout=grace_seconds + 60)
        took = time.monotonic() - started
        assert result.returncode == 0, result.stderr
        exit_code = self.state()["ExitCode"]
        assert isinstance(exit_code, int)
        return exit_code, took

    def logs(self) -> str:
        result = podman("logs", self.name)
        return result.stdout + result.stderr

    def remove(self) -> None:
        podman("rm", "--force", "--time", "0", self.name)
