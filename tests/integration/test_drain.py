"""``broadway-py run`` whose drain runs out of time: it ends cleanly, as documented.

SIGTERM while a handler outlives ``shutdown.drain_timeout``: the process
exits 0 (docs/cli.md: a drain bounded by drain_timeout, then exit 0) within
the timeout plus a margin, with no traceback, one line saying how many
messages were left to the broker, and the final 'pipeline ... stopped' line.
With RabbitMQ, the broker really has every message back afterwards.
"""

from __future__ import annotations

import asyncio
import re
import signal
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import yaml

from tests.integration.rabbitmq.support import Broker
from tests.support import wait_until

DRAIN_TIMEOUT = 2
CONSOLE_SCRIPT = Path(sys.executable).parent / "broadway-py"

HANDLER = """
import asyncio
from pathlib import Path


async def handle(message):
    Path("started").touch()
    await asyncio.sleep(60)  # sleep-ok: simulated work that outlives the drain
    return message
"""

DRAIN_LINE = re.compile(
    rf"drain timed out after {DRAIN_TIMEOUT}s: (\d+) messages left unacknowledged; "
    r"the broker redelivers them"
)


def pipeline_file(folder: Path, name: str, producer: dict[str, Any]) -> Path:
    (folder / "drain_handlers.py").write_text(textwrap.dedent(HANDLER))
    spec = {
        "name": name,
        "handler": "drain_handlers:handle",
        "producer": producer,
        "processors": {"concurrency": 2, "max_demand": 5},
        "shutdown": {"drain_timeout": DRAIN_TIMEOUT},
        "http": {"enabled": False},
    }
    path = folder / "pipeline.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


async def run_and_terminate(folder: Path, config: Path) -> tuple[int, str, float]:
    """Run the CLI until its handler is busy, SIGTERM it; (exit code, stderr, seconds)."""
    assert CONSOLE_SCRIPT.is_file(), "the broadway-py console script is not installed"
    log = folder / "stderr.log"
    with log.open("wb") as sink:
        process = await asyncio.create_subprocess_exec(
            str(CONSOLE_SCRIPT),
            "run",
            str(config),
            cwd=folder,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=sink,
        )
    try:
        await wait_until(
            lambda: (folder / "started").exists() or process.returncode is not None,
            30,
            "the handler to start",
        )
        assert process.returncode is None, log.read_text()
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), DRAIN_TIMEOUT + 20)
        took = time.monotonic() - started
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return code, log.read_text(errors="replace"), took


def assert_clean_timed_out_drain(code: int, err: str, took: float, name: str) -> int:
    """The documented end of a timed out drain; returns how many messages it left."""
    assert code == 0, err
    assert "Traceback" not in err, err
    assert "CancelledError" not in err, err
    lines = [line for line in err.splitlines() if DRAIN_LINE.search(line)]
    assert len(lines) == 1, err
    assert f"pipeline {name!r} stopped" in err.splitlines()[-1], err
    assert took < DRAIN_TIMEOUT + 10, f"exit took {took:.1f}s\n{err}"
    match = DRAIN_LINE.search(lines[0])
    assert match is not None
    return int(match.group(1))


async def test_a_drain_timeout_with_a_generator_exits_0_without_a_traceback(
    tmp_path: Path,
) -> None:
    config = pipeline_file(tmp_path, "slow", {"generator": {"rate": 200}, "decode": "text"})
    code, err, took = await run_and_terminate(tmp_path, config)
    left = assert_clean_timed_out_drain(code, err, took, "slow")
    assert left >= 1  # at least the message the busy handler holds


async def test_a_drain_timeout_leaves_every_unfinished_message_to_rabbitmq(
    tmp_path: Path,
) -> None:
    broker = await Broker.connect()
    try:
        queue = broker.name("drain")
        await broker.declare(queue)
        payloads = [f"m-{i:03d}".encode() for i in range(30)]
        await broker.publish(queue, payloads)
        producer = {"rabbitmq": {"url": broker.url, "queue": queue}}
        config = pipeline_file(tmp_path, "slow_rabbit", producer)
        code, err, took = await run_and_terminate(tmp_path, config)
        left = assert_clean_timed_out_drain(code, err, took, "slow_rabbit")
        assert 1 <= left <= 30

        async def all_back() -> bool:
            ready, unacked = (await broker.depths()).get(queue, (0, 0))
            return (ready, unacked) == (30, 0)

        await wait_until(all_back, 30, "every message back in the queue, none acked")
        assert sorted(await broker.read(queue)) == payloads
    finally:
        await broker.cleanup()
