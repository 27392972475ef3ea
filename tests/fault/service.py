"""``broadway-py run`` in a subprocess, as an operator runs it, for the fault suite.

Why a subprocess of the real CLI: SIGKILL, SIGTERM and a process restart are
only real on a real process, and what the operator runs is the CLI with a
YAML file. The pipeline file is written as JSON (a subset of YAML) from the
dict a broker adapter builds; the handler is tests.fault.handler.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from tests.fault.workload import Records

ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).with_name("broadway-py"))
DRAIN_TIMEOUT = 10.0
RETRY = {"max_attempts": 3, "min_delay": 0.2, "max_delay": 1}


def pipeline_file(folder: Path, name: str, producer: dict[str, Any], **sections: Any) -> Path:
    """Write the pipeline file of a case: ``producer`` plus the shared sections."""
    spec: dict[str, Any] = {
        "name": name,
        "handler": "tests.fault.handler:FaultHandler",
        "producer": producer,
        "processors": {"concurrency": 4, "max_demand": 10},
        "batchers": {"default": {"batch_size": 10, "batch_timeout": 0.1, "concurrency": 2}},
        "retry": RETRY,
        "shutdown": {"drain_timeout": DRAIN_TIMEOUT},
        "http": {"enabled": False},
        **sections,
    }
    path = folder / f"{name}.yaml"
    path.write_text(json.dumps(spec, indent=2) + "\n")
    return path


class Service:
    """One ``broadway-py run FILE`` process; its stderr goes to a file of its own."""

    runs = 0

    def __init__(self, config: Path, record: Path, env: dict[str, str] | None = None) -> None:
        self.config = config
        self.record = record
        self.env = env or {}
        Service.runs += 1
        self.log = config.with_name(f"{config.stem}-{Service.runs}-{time.monotonic_ns()}.log")
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> Service:
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "BROADWAY_FAULT_RECORD": str(self.record),
            **self.env,
        }
        with self.log.open("wb") as sink:
            self.process = await asyncio.create_subprocess_exec(
                CLI,
                "run",
                str(self.config),
                cwd=ROOT,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=sink,
                stderr=asyncio.subprocess.STDOUT,
                env=env,
            )
        return self

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    def records(self) -> Records:
        return Records.read(self.record)

    def err(self) -> str:
        return self.log.read_text(errors="replace")

    def assert_alive(self) -> None:
        """Fail at once, with its output, when the process died on its own."""
        assert self.process is not None
        if self.process.returncode is not None:
            raise AssertionError(
                f"broadway-py exited with {self.process.returncode}:\n{self.err()[-3000:]}"
            )

    async def kill(self) -> None:
        """SIGKILL: no drain, no ack, no goodbye to the broker."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await asyncio.wait_for(self.process.wait(), 10)

    async def terminate(self, within: float = DRAIN_TIMEOUT + 5) -> tuple[int, float]:
        """SIGTERM, then wait: (exit code, seconds it took)."""
        assert self.process is not None
        began = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.wait_for(self.process.wait(), within)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
            raise AssertionError(
                f"broadway-py did not exit within {within}s of SIGTERM:\n{self.err()[-3000:]}"
            ) from None
        return code, time.monotonic() - began

    async def close(self) -> None:
        """Stop the process if a failed test left it running (SIGKILL, by its pid)."""
        if self.running:
            await self.kill()
