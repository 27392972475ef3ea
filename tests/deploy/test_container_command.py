"""The command lines the image and the chart run really start, answer probes and drain.

No container engine here: the Dockerfile's ENTRYPOINT + CMD and the chart's
container args are run as they are (only the pipeline path and the port are
swapped for test ones), with the chart's default pipeline and its handler
file. Then SIGTERM must drain and exit 0 within shutdown.drain_timeout; and
when a handler outlives the drain, the image's command still exits 0 in time,
with one line saying what was left to the broker and no traceback.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import one
from tests.deploy.dockerfile_stages import PIPELINE_PATH, only, stages
from tests.ports import free_port

DRAIN_TIMEOUT = 5


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            code: int = response.status
            return code
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


def _poll(
    check: Callable[[], bool], process: subprocess.Popen[str], timeout: float, what: str
) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if process.poll() is not None:
            raise AssertionError(f"exited {process.returncode} before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout}s")
        time.sleep(0.1)  # sleep-ok: poll interval of a deadline-bounded wait


def _answers(url: str, process: subprocess.Popen[str], timeout: float = 30) -> None:
    _poll(lambda: _status(url) == 200, process, timeout, f"200 from {url}")


def _start(argv: list[str], cwd: Path) -> subprocess.Popen[str]:
    """Run ``argv`` (``broadway-py ...``) with the venv's console script, output captured."""
    assert argv[0] == "broadway-py"
    entry = Path(sys.executable).parent / "broadway-py"
    assert entry.is_file(), "the broadway-py console script is not installed in the venv"
    return subprocess.Popen(
        [str(entry), *argv[1:]],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _terminate(
    process: subprocess.Popen[str], within: float, ready: Callable[[], None]
) -> tuple[int, float, str]:
    """Once ``ready`` returns, SIGTERM: (exit code, seconds to exit, output); killed if stuck."""
    try:
        ready()
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=within)
        took = time.monotonic() - started
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    output = process.stdout.read() if process.stdout else ""
    return code, took, output


def _argv(documents: list[dict[str, Any]], source: str) -> list[str]:
    if source == "dockerfile":
        final = stages()[-1]
        return [*only(final, "ENTRYPOINT").value, *only(final, "CMD").value]
    container = one(documents, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    return ["broadway-py", *container["args"]]


@pytest.mark.parametrize("source", ["dockerfile", "chart"])
def test_command_serves_probes_and_drains_on_sigterm(
    rendered: dict[str, list[dict[str, Any]]], source: str, tmp_path: Path
) -> None:
    documents = rendered["default"]
    etc = tmp_path / "etc-broadway"
    etc.mkdir()
    for name, content in one(documents, "ConfigMap")["data"].items():
        (etc / name).write_text(content)
    config = yaml.safe_load((etc / "pipeline.yaml").read_text())
    config["shutdown"] = {"drain_timeout": DRAIN_TIMEOUT}
    (etc / "pipeline.yaml").write_text(yaml.safe_dump(config))

    argv = _argv(documents, source)
    port = free_port()
    argv = [arg.replace(PIPELINE_PATH, str(etc / "pipeline.yaml")) for arg in argv]
    if "--http-port" in argv:
        argv[argv.index("--http-port") + 1] = str(port)
    else:
        argv += ["--http-port", str(port)]
    process = _start(argv, tmp_path)

    def probes_answer() -> None:
        _answers(f"http://127.0.0.1:{port}/healthz", process)
        _answers(f"http://127.0.0.1:{port}/readyz", process)

    code, took, output = _terminate(process, DRAIN_TIMEOUT + 10, probes_answer)
    assert code == 0, output
    assert took < DRAIN_TIMEOUT + 5, f"the drain took {took:.1f}s\n{output}"


SLOW_HANDLER = """\
import asyncio
from pathlib import Path


async def handle(message):
    Path("started").touch()
    await asyncio.sleep(60)  # sleep-ok: simulated work that outlives the drain
    return message
"""
TIMED_OUT_DRAIN = 2


def test_dockerfile_command_ends_a_timed_out_drain_cleanly(tmp_path: Path) -> None:
    etc = tmp_path / "etc-broadway"
    etc.mkdir()
    (etc / "slow_handler.py").write_text(SLOW_HANDLER)
    pipeline = {
        "name": "slow",
        "handler": "slow_handler:handle",
        "producer": {"generator": {"rate": 100}, "decode": "text"},
        "processors": {"concurrency": 2, "max_demand": 5},
        "shutdown": {"drain_timeout": TIMED_OUT_DRAIN},
    }
    (etc / "pipeline.yaml").write_text(yaml.safe_dump(pipeline))
    argv = [
        arg.replace(PIPELINE_PATH, str(etc / "pipeline.yaml")) for arg in _argv([], "dockerfile")
    ]
    port = free_port()
    process = _start([*argv, "--http-port", str(port)], tmp_path)

    def handling() -> None:
        _answers(f"http://127.0.0.1:{port}/healthz", process)
        _poll((tmp_path / "started").exists, process, 30, "the handler started")

    code, took, output = _terminate(process, TIMED_OUT_DRAIN + 15, handling)
    assert code == 0, output
    assert "Traceback" not in output, output
    drain = re.compile(
        rf"drain timed out after {TIMED_OUT_DRAIN}s: [0-9]+ messages left unacknowledged; "
        "the broker redelivers them"
    )
    assert len([line for line in output.splitlines() if drain.search(line)]) == 1, output
    assert "pipeline 'slow' stopped" in output.splitlines()[-1], output
    assert took < TIMED_OUT_DRAIN + 10, f"the drain took {took:.1f}s\n{output}"
