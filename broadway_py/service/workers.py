"""The parent of ``run --workers N``: N worker processes, supervised, behind one HTTP port.

Each worker is ``python -m broadway_py run FILE ... --worker-index I``
(:mod:`.worker_role`): the whole pipeline in its own process, with its own
HTTP server on 127.0.0.1 whose port it writes to a file this parent reads. The
parent serves the public port (``http.host`` / ``http.port``) with the front of
:mod:`.worker_front`, which aggregates the workers' endpoints.

- A worker that dies is restarted after a backoff; past the pipeline's restart
  intensity (``supervisor.max_restarts`` within ``supervisor.max_seconds``,
  over all workers: :mod:`.restart_policy`) the parent drains the others and
  fails with one line that says so.
- SIGTERM / SIGINT to the parent is forwarded as SIGTERM to every worker;
  each drains within ``shutdown.drain_timeout``. A worker still running
  ``drain_timeout`` + :data:`STRAGGLER_MARGIN` seconds later is killed and the
  parent fails; when every worker exited 0 in time, it returns normally.
- On Linux a worker asks to be sent SIGTERM when its parent dies, even by
  SIGKILL (:func:`.worker_role.die_with_parent`), so no worker outlives it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from broadway_py.config.loader import LoadedConfig
from broadway_py.config.models import HttpSpec
from broadway_py.config.secret_text import SecretMasker
from broadway_py.config.secret_values import config_secrets, environment_secrets
from broadway_py.errors import PipelineFailed
from broadway_py.service.logs import add_log_secrets
from broadway_py.service.restart_policy import RestartPolicy
from broadway_py.service.run import ServiceError
from broadway_py.service.worker_role import PORT_FILE_ENV, WORKER_HOST, read_port

log = logging.getLogger("broadway_py.workers")

STRAGGLER_MARGIN = 10.0
"""Seconds past ``shutdown.drain_timeout`` a worker gets to exit before it is killed
(a drain that timed out still closes its connections)."""


@dataclass
class _Slot:
    """Worker ``index``: its current process (None while it is being restarted)."""

    index: int
    port_file: Path
    process: asyncio.subprocess.Process | None = None
    restarts: int = 0

    @property
    def pid(self) -> int | None:
        process = self.process
        return process.pid if process is not None and process.returncode is None else None

    def url(self) -> str | None:
        if self.pid is None:
            return None
        port = read_port(self.port_file)
        return None if port is None else f"http://{WORKER_HOST}:{port}"


def _how(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


class Workers:
    """Runs ``count`` processes made by ``command(index)`` until stopped; see the module doc."""

    def __init__(
        self,
        name: str,
        count: int,
        command: Callable[[int], Sequence[str]],
        policy: RestartPolicy,
        drain_timeout: float,
        http: HttpSpec | None = None,
        redact: Callable[[str], str] = str,
        margin: float = STRAGGLER_MARGIN,
    ) -> None:
        self.name = name
        self.count = count
        self.command = command
        self.policy = policy
        self.drain_timeout = drain_timeout
        self.http = http
        self.redact = redact
        self.margin = margin
        self.failure: str | None = None
        self.slots: list[_Slot] = []
        self._stopping = asyncio.Event()

    async def run(self, signals: bool = True) -> None:
        """Start, supervise until stopped, stop; PipelineFailed unless all stopped cleanly."""
        loop = asyncio.get_running_loop()
        installed: list[signal.Signals] = []
        if signals:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, self._on_signal, signum)
                installed.append(signum)
        try:
            with tempfile.TemporaryDirectory(prefix="broadway-workers-") as folder:
                self.slots = [
                    _Slot(i, Path(folder) / f"worker-{i}.port") for i in range(self.count)
                ]
                front = await self._serve_front()
                try:
                    await self._supervise()
                finally:
                    if front is not None:
                        await front.close()
        finally:
            for signum in installed:
                loop.remove_signal_handler(signum)
        if self.failure is not None:
            raise PipelineFailed(self.failure)
        log.info("all %d workers of pipeline %r stopped", self.count, self.name)

    def stop(self) -> None:
        """Forward SIGTERM to every worker and restart none (what SIGTERM to the parent does)."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        for slot in self.slots:
            if slot.pid is not None and slot.process is not None:
                slot.process.terminate()

    def _on_signal(self, signum: signal.Signals) -> None:
        log.info(
            "received %s: stopping %d workers (each drains in at most %ss)",
            signum.name,
            self.count,
            self.drain_timeout,
        )
        self.stop()

    def _fail(self, reason: str) -> None:
        if self.failure is None:
            self.failure = reason
            log.error("%s", reason)

    async def _serve_front(self) -> _Front | None:
        if self.http is None or not self.http.enabled:
            return None
        from broadway_py.service.worker_front import WorkerView, serve_front

        def views() -> list[WorkerView]:
            return [WorkerView(s.index, s.pid, s.url(), s.restarts) for s in self.slots]

        try:
            front = await serve_front(self.http.host, self.http.port, views, self.name, self.redact)
        except OSError as error:
            raise ServiceError(error.strerror or str(error)) from None
        return front

    async def _supervise(self) -> None:
        keepers = [
            asyncio.create_task(self._keep(slot), name=f"broadway:worker-{slot.index}")
            for slot in self.slots
        ]
        try:
            await self._stopping.wait()
            limit = self.drain_timeout + self.margin
            _, pending = await asyncio.wait(keepers, timeout=limit)
            if pending:
                late = [s for s in self.slots if s.pid is not None]
                for slot in late:
                    if slot.process is not None:
                        slot.process.kill()
                self._fail(
                    f"worker{'s' if len(late) > 1 else ''} "
                    f"{', '.join(str(s.index) for s in late)} did not exit within {limit:g}s "
                    f"(shutdown.drain_timeout {self.drain_timeout:g}s + {self.margin:g}s): "
                    "killed"
                )
                await asyncio.wait(keepers)
        finally:
            for keeper in keepers:
                keeper.cancel()
            for slot in self.slots:
                if slot.pid is not None and slot.process is not None:
                    slot.process.kill()
                    await slot.process.wait()

    async def _keep(self, slot: _Slot) -> None:
        """Run worker ``slot.index``, restarting it, until the parent stops."""
        while not self._stopping.is_set():
            try:
                process = await self._start(slot)
            except OSError as error:
                self._fail(f"worker {slot.index} could not start: {error}")
                self.stop()
                return
            code = await process.wait()
            if self._stopping.is_set():
                self._stopped(slot.index, process.pid, code)
                return
            delay = self.policy.died(slot.index)
            if delay is None:
                self._fail(
                    f"worker {slot.index} (pid {process.pid}) {_how(code)}: "
                    f"{self.policy.describe()}; stopping the others"
                )
                self.stop()
                return
            slot.restarts += 1
            log.warning(
                "worker %d (pid %d) %s; restarting it in %.1fs",
                slot.index,
                process.pid,
                _how(code),
                delay,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)

    async def _start(self, slot: _Slot) -> asyncio.subprocess.Process:
        slot.port_file.unlink(missing_ok=True)
        process = await asyncio.create_subprocess_exec(
            *self.command(slot.index),
            stdin=subprocess.DEVNULL,
            env={**os.environ, PORT_FILE_ENV: str(slot.port_file)},
        )
        slot.process = process
        log.info("worker %d started (pid %d)", slot.index, process.pid)
        if self._stopping.is_set():  # the stop came while it was being started
            process.terminate()
        return process

    def _stopped(self, index: int, pid: int, code: int) -> None:
        if code == 0:
            log.info("worker %d (pid %d) drained and exited", index, pid)
        elif code == -signal.SIGTERM:
            # Killed by the forwarded SIGTERM before its pipeline installed the drain:
            # what it had received, unacknowledged, the broker redelivers.
            log.info("worker %d (pid %d) stopped before its pipeline ran", index, pid)
        else:
            self._fail(f"worker {index} (pid {pid}) {_how(code)} while draining")


class _Front(Protocol):
    """What :func:`~broadway_py.service.worker_front.serve_front` returns."""

    @property
    def port(self) -> int: ...

    async def close(self) -> None: ...


async def run_workers(loaded: LoadedConfig, command: Callable[[int], Sequence[str]]) -> None:
    """Run the pipeline ``loaded`` describes as ``spec.workers`` processes made by ``command``."""
    spec = loaded.spec
    secrets = config_secrets(loaded) | environment_secrets(os.environ)
    add_log_secrets(secrets)
    workers = Workers(
        spec.name,
        spec.workers,
        command,
        RestartPolicy(spec.supervisor.max_restarts, spec.supervisor.max_seconds),
        spec.shutdown.drain_timeout,
        spec.http,
        SecretMasker(secrets).mask,
    )
    log.info(
        "starting %d workers of pipeline %r (%s producer)",
        spec.workers,
        spec.name,
        loaded.producer_type,
    )
    await workers.run()
