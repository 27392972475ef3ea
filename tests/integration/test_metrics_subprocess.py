"""``broadway-py run`` in a subprocess: exact counters on /metrics, then a SIGTERM drain.

A memory queue in another process cannot be pushed to from here, so the
pipeline runs the endless ``generator`` producer and the handler (a module
written next to the pipeline file) decides by sequence number:

- seq < 5000: every 10th raises (retried once; the retry delay of 600 s keeps
  the redelivery past the test's end), every 250th (offset 5) is poison (dead-lettered), the
  rest go to the ``db`` batcher and are acked successful;
- seq >= 5000: parked until the test creates a release file.

The processors take one message at a time (``max_demand: 1``): a chunk is
acked only once all of it was handled, so a chunk mixing the two ranges would
hold back some acks of the first. The ack counters settle at exact numbers.
The test then sends SIGTERM, checks that the port reports the drain,
releases the parked messages, and expects exit code 0 well within the drain
timeout.

A second test runs two Kafka group members (``producer.concurrency: 2``) on
a two-partition topic with every message parked: each member reports the lag
of its own partition, and /metrics and /status show the topic's whole lag
(their sum) and each member's connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.kafka.broker import BOOTSTRAP, FAST_GROUP, create_topics, publish, unique
from tests.ports import free_port
from tests.support import wait_until

TOTAL = 5000
RETRIED = TOTAL // 10  # seq % 10 == 0
DEAD = TOTAL // 250  # seq % 250 == 5
SUCCESSFUL = TOTAL - RETRIED - DEAD
DRAIN_TIMEOUT = 30.0

HANDLER = f'''
"""Handler for the subprocess metrics test (written by the test)."""

import asyncio
import os

from broadway_py import Handler, PoisonMessageError

TOTAL = {TOTAL}
RELEASE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "release")


class CountingHandler(Handler):
    async def handle_message(self, message):
        seq = message.metadata["seq"]
        if seq >= TOTAL:
            while not os.path.exists(RELEASE):
                await asyncio.sleep(0.02)  # sleep-ok: poll while held
            return message
        if seq % 250 == 5:
            raise PoisonMessageError(f"poison {{seq}}")
        if seq % 10 == 0:
            raise RuntimeError(f"fails once {{seq}}")
        message.put_batcher("db")
        return message

    def handle_batch(self, batcher, messages, info):
        return messages
'''

PIPELINE = f"""
name: subprocess-metrics
handler: metrics_subprocess_handler:CountingHandler
producer:
  generator:
    payload: "message {{seq}}"
processors:
  concurrency: 4
  max_demand: 1
batchers:
  db:
    batch_size: 100
    batch_timeout: 0.2
retry:
  min_delay: 600
  max_delay: 600
shutdown:
  drain_timeout: {DRAIN_TIMEOUT}
http:
  host: 127.0.0.1
  port: 0
  stall_window: 120
"""

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {
        (s.name, frozenset((k, v) for k, v in s.labels.items() if k != "pipeline")): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def sample(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


class Service:
    def __init__(self, process: asyncio.subprocess.Process, port: int, log: Path) -> None:
        self.process = process
        self.url = f"http://127.0.0.1:{port}"
        self.log = log

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[Service]:
    (tmp_path / "metrics_subprocess_handler.py").write_text(textwrap.dedent(HANDLER))
    config = tmp_path / "pipeline.yaml"
    config.write_text(PIPELINE)
    async with run_service(tmp_path, config) as running:
        yield running


@contextlib.asynccontextmanager
async def run_service(tmp_path: Path, config: Path) -> AsyncIterator[Service]:
    port = free_port()
    log = tmp_path / "service.log"
    with log.open("wb") as sink:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "broadway_py",
            "run",
            str(config),
            "--http-port",
            str(port),
            cwd=tmp_path,
            stdout=sink,
            stderr=sink,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        yield Service(process, port, log)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def scrape(client: aiohttp.ClientSession, service: Service) -> Samples | None:
    try:
        async with client.get(service.url + "/metrics") as response:
            if response.status != 200:
                return None
            return parse(await response.text())
    except aiohttp.ClientError:
        return None  # not listening yet


async def test_counters_are_exact_and_sigterm_drains(service: Service) -> None:
    latest: Samples = {}

    async def settled(client: aiohttp.ClientSession) -> bool:
        nonlocal latest
        assert service.process.returncode is None, "the service exited:\n" + service.output()
        samples = await scrape(client, service)
        if samples is None:
            return False
        latest = samples
        return sample(samples, "broadway_messages_acked_total", outcome="successful") == SUCCESSFUL

    timeout = aiohttp.ClientTimeout(total=5)
    async with aiohttp.ClientSession(timeout=timeout) as client:
        try:
            await wait_until(lambda: settled(client), 60, "all acks on /metrics", interval=0.1)
        except AssertionError:
            output = service.output()
            raise AssertionError(f"last scrape: {latest}\nservice output:\n{output}") from None
        acked = {
            outcome: sample(latest, "broadway_messages_acked_total", outcome=outcome)
            for outcome in ("successful", "retried", "dead_lettered", "discarded")
        }
        assert acked == {
            "successful": SUCCESSFUL,
            "retried": RETRIED,
            "dead_lettered": DEAD,
            "discarded": 0,
        }
        processed_ok = sample(latest, "broadway_messages_processed_total", outcome="ok")
        processed_failed = sample(latest, "broadway_messages_processed_total", outcome="failed")
        assert (processed_ok, processed_failed) == (SUCCESSFUL, RETRIED + DEAD)
        assert sample(latest, "broadway_batch_size_messages_sum", batcher="db") == SUCCESSFUL
        parked = sample(latest, "broadway_messages_in_flight")
        assert parked is not None
        assert parked > 0
        assert sample(latest, "broadway_messages_received_total") == TOTAL + parked
        assert sample(latest, "broadway_pipeline_state", state="running") == 1
        assert sample(latest, "broadway_producer_connected") == 1
        assert sample(latest, "broadway_stage_restarts_total", stage="processor") == 0
        async with client.get(service.url + "/readyz") as response:
            assert response.status == 200, await response.text()

        service.process.send_signal(signal.SIGTERM)
        sent = time.monotonic()

        async def draining() -> bool:
            try:
                async with client.get(service.url + "/readyz") as response:
                    return response.status == 503 and "draining" in await response.text()
            except aiohttp.ClientError as error:
                raise AssertionError(f"the port closed during the drain: {error}") from None

        await wait_until(draining, 10, "/readyz to report the drain")
        (Path(service.log).parent / "release").touch()

    try:
        code = await asyncio.wait_for(service.process.wait(), DRAIN_TIMEOUT)
    except TimeoutError:
        raise AssertionError("no exit within the drain timeout:\n" + service.output()) from None
    took = time.monotonic() - sent
    assert code == 0, service.output()
    assert took < DRAIN_TIMEOUT
    assert "drain timed out" not in service.output()


PARKED_PER_PARTITION = 150

PARKING_HANDLER = """
import asyncio
import os

RELEASE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "release")


async def handle(message):
    while not os.path.exists(RELEASE):
        await asyncio.sleep(0.02)  # sleep-ok: poll while held
    return message
"""


@pytest.mark.kafka
async def test_two_kafka_members_lags_add_up_and_each_connection_shows(tmp_path: Path) -> None:
    topic, group = unique("lag"), unique("lag-group")
    await create_topics([topic], partitions=2)
    for partition in (0, 1):
        payloads = [f"p{partition}-{i}".encode() for i in range(PARKED_PER_PARTITION)]
        await publish(topic, payloads, partition=partition)
    (tmp_path / "parking_handler.py").write_text(textwrap.dedent(PARKING_HANDLER))
    kafka = {
        "bootstrap_servers": BOOTSTRAP,
        "topics": [topic],
        "group_id": group,
        "auto_offset_reset": "earliest",
        **FAST_GROUP,
    }
    spec = {
        "name": "kafka-members",
        "handler": "parking_handler:handle",
        "producer": {"concurrency": 2, "kafka": kafka},
        "processors": {"concurrency": 2, "max_demand": 10},
        "shutdown": {"drain_timeout": DRAIN_TIMEOUT},
        "http": {"host": "127.0.0.1", "port": 0, "stall_window": 120},
    }
    config = tmp_path / "pipeline.yaml"
    config.write_text(yaml.safe_dump(spec))
    latest: Samples = {}
    status: dict[str, Any] = {}

    async with run_service(tmp_path, config) as service:
        timeout = aiohttp.ClientTimeout(total=5)
        async with aiohttp.ClientSession(timeout=timeout) as client:

            async def whole_lag_shown() -> bool:
                nonlocal latest, status
                assert service.process.returncode is None, service.output()
                samples = await scrape(client, service)
                if samples is None:
                    return False
                latest = samples
                async with client.get(service.url + "/status") as response:
                    status = await response.json()
                lag = sample(samples, "broadway_backlog_messages", source=topic)
                backlog = status["backlog"]
                return lag == 2 * PARKED_PER_PARTITION and backlog.get(topic) == lag

            try:
                await wait_until(whole_lag_shown, 60, "both members' lag", interval=0.2)
            except AssertionError:
                raise AssertionError(
                    f"last scrape: {latest}\nstatus: {status}\noutput:\n{service.output()}"
                ) from None
            connections = status["producer_connections"]
            assert sorted(connections) == ["producer_0", "producer_1"]
            assert all(c["connected"] for c in connections.values()), connections
            assert sample(latest, "broadway_producer_connected") == 1

            service.process.send_signal(signal.SIGTERM)
            (tmp_path / "release").touch()
        try:
            code = await asyncio.wait_for(service.process.wait(), DRAIN_TIMEOUT)
        except TimeoutError:
            raise AssertionError("no exit within the drain timeout:\n" + service.output()) from None
        assert code == 0, service.output()
