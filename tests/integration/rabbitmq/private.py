"""A private RabbitMQ node for tests that stop or restart the server.

The shared server (``BROADWAY_RABBITMQ_URL``, port 35672) serves every test
run on the machine and must never be stopped. A test that restarts a node
gets its own: ``scripts/brokers/rabbitmq.sh`` with its own state directory
(``BROADWAY_BROKERS_DIR``), free ports and node name. ``stop`` and ``start``
keep the data directory, so durable queues and persistent messages survive,
as on a real node restart; ``destroy`` stops it (by the script's pid files)
and removes the directory.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import socket
import subprocess
import tempfile

from tests.contract.harness_rabbitmq import SCRIPT

START_TIMEOUT = 120.0
CTL_PORTS = 11  # rabbitmqctl's own node takes one port in MIN..MIN+10


def _free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_ports(count: int) -> int:
    """The first of ``count`` consecutive free ports on 127.0.0.1."""
    for _ in range(200):
        base = random.randrange(40000, 60000 - count)
        if all(_free(base + i) for i in range(count)):
            return base
    raise RuntimeError("no free port range found for a private RabbitMQ node")


class PrivateNode:
    """One RabbitMQ node of this test process only."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="broadway-rmq-")
        base = _free_ports(3 + CTL_PORTS)
        self.port = base
        self.env = {
            **os.environ,
            "BROADWAY_BROKERS_DIR": self.dir,
            "BROADWAY_RABBITMQ_PORT": str(base),
            "BROADWAY_RABBITMQ_DIST_PORT": str(base + 1),
            "BROADWAY_RABBITMQ_EPMD_PORT": str(base + 2),
            "BROADWAY_RABBITMQ_CTL_PORT_MIN": str(base + 3),
            "BROADWAY_RABBITMQ_NODENAME": f"it{os.getpid()}x{base}@localhost",
        }
        self.url = f"amqp://guest:guest@127.0.0.1:{base}/"

    def _run(self, *args: str) -> None:
        done = subprocess.run(
            [str(SCRIPT), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"rabbitmq.sh {' '.join(args)} failed:\n{done.stderr[-3000:]}")

    def start_now(self) -> None:
        """Start (blocking); for fixtures."""
        self._run("start")

    async def _script(self, *args: str) -> str:
        process = await asyncio.create_subprocess_exec(
            str(SCRIPT),
            *args,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(process.communicate(), START_TIMEOUT)
        text = out.decode(errors="replace")
        if process.returncode != 0:
            raise RuntimeError(f"rabbitmq.sh {' '.join(args)} failed:\n{text[-3000:]}")
        return text

    async def stop(self) -> None:
        """Stop the node (rabbitmqctl shutdown); its data stays."""
        await self._script("stop")

    async def start(self) -> None:
        """Start the node again on the same data and ports; returns once it accepts."""
        await self._script("start")

    async def ctl(self, *args: str) -> str:
        """rabbitmqctl against this node (e.g. ``stop_app``, ``start_app``)."""
        return await self._script("ctl", *args)

    async def depths(self) -> dict[str, tuple[int, int]]:
        """name -> (ready, unacknowledged) of every queue of this node, from rabbitmqctl."""
        out = await self._script(
            "ctl",
            "list_queues",
            "-q",
            "--no-table-headers",
            "name",
            "messages_ready",
            "messages_unacknowledged",
        )
        depths: dict[str, tuple[int, int]] = {}
        for line in out.splitlines():
            parts = line.split("\t")
            if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
                depths[parts[0]] = (int(parts[1]), int(parts[2]))
        return depths

    def destroy(self) -> None:
        try:
            self._run("stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
