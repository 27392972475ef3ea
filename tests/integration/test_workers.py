"""``broadway-py run --workers N`` in a subprocess, against the shared RabbitMQ server.

The parent starts N worker processes (``--worker-index I``); these tests kill
one (the parent restarts it, nothing is lost), stop the parent with SIGTERM
(both workers drain, exit 0), and check that the single-process producers
refuse N > 1. Each handled message is appended to a record file as
``<id> <pid>`` by whichever worker handled it (one ``os.write`` on an
``O_APPEND`` file: whole lines, and they survive a SIGKILL).
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.integration.rabbitmq.support import URL, Broker
from tests.support import wait_until

pytestmark = pytest.mark.rabbitmq

HANDLER = """
import asyncio
import os

from broadway_py import Handler

RECORD = os.environ["WORKERS_TEST_RECORD"]


class Record(Handler):
    def __init__(self):
        self.fd = os.open(RECORD, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    async def handle_message(self, message):
        await asyncio.sleep(0.02)  # sleep-ok: simulated work, keeps messages in flight
        os.write(self.fd, f"{int(message.data)} {os.getpid()}\\n".encode())
        return message
"""

PIPELINE = """
name: workers-test
handler: workers_test_handlers:Record
producer:
  rabbitmq:
    url: {url}
    queue: {queue}
    prefetch_count: 10
    reconnect: {{min_delay: 0.2, max_delay: 1.0}}
processors:
  concurrency: 2
  max_demand: 5
shutdown:
  drain_timeout: 5
supervisor:
  max_restarts: 3
  max_seconds: 30
http:
  port: 0
"""

STARTED = re.compile(r"worker (\d+) started \(pid (\d+)\)")
SERVING = re.compile(r"of 2 workers on http://127\.0\.0\.1:(\d+)")  # the front's line


class Parent:
    """A ``python -m broadway_py run --workers N`` process, its stderr in a file."""

    def __init__(self, process: asyncio.subprocess.Process, log: Path, record: Path) -> None:
        self.process = process
        self.log = log
        self.record = record

    def err(self) -> str:
        return self.log.read_text(errors="replace")

    def started(self) -> list[tuple[int, int]]:
        """(worker index, pid) of every worker start, in order."""
        return [(int(i), int(p)) for i, p in STARTED.findall(self.err())]

    def handled(self) -> list[tuple[int, int]]:
        """(message id, pid of the worker that handled it), whole lines only."""
        if not self.record.exists():
            return []
        lines = self.record.read_text().split("\n")[:-1]
        return [(int(ident), int(pid)) for ident, pid in (line.split() for line in lines)]

    def pids_that_handled(self) -> set[int]:
        return {pid for _, pid in self.handled()}

    async def finish(self, timeout: float) -> int:
        await asyncio.wait_for(self.process.wait(), timeout)
        assert self.process.returncode is not None
        return self.process.returncode


async def start(folder: Path, *arguments: str, env: dict[str, str] | None = None) -> Parent:
    log = folder / f"stderr-{time.monotonic_ns()}.log"
    record = folder / "handled.txt"
    with log.open("wb") as sink:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "broadway_py",
            *arguments,
            cwd=folder,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=sink,
            env={
                **os.environ,
                "PYTHONUNBUFFERED": "1",
                "WORKERS_TEST_RECORD": str(record),
                **(env or {}),
            },
        )
    return Parent(process, log, record)


@pytest.fixture
async def broker() -> AsyncIterator[Broker]:
    made = await Broker.connect()
    try:
        yield made
    finally:
        await made.cleanup()


async def seeded(broker: Broker, folder: Path, count: int) -> tuple[str, list[int]]:
    """A fresh queue holding ``count`` ids, and the pipeline file over it."""
    queue = broker.name("workers")
    await broker.declare(queue)
    ids = list(range(count))
    await broker.publish(queue, [str(i).encode() for i in ids])
    (folder / "workers_test_handlers.py").write_text(textwrap.dedent(HANDLER))
    (folder / "pipeline.yaml").write_text(PIPELINE.format(url=URL, queue=queue))
    return queue, ids


async def left_in(broker: Broker, queue: str) -> list[int]:
    return [int(body) for body in await broker.read(queue)]


async def test_a_killed_worker_is_restarted_and_nothing_is_lost(
    broker: Broker, tmp_path: Path
) -> None:
    queue, ids = await seeded(broker, tmp_path, 1200)
    parent = await start(tmp_path, "run", "pipeline.yaml", "--workers", "2")
    try:
        await wait_until(
            lambda: len(parent.pids_that_handled()) == 2, 20, "both workers handling messages"
        )
        first = dict(parent.started())
        victim = first[0]
        os.kill(victim, signal.SIGKILL)
        await wait_until(
            lambda: len(parent.started()) == 3, 10, "the parent restarting the killed worker"
        )
        index, new_pid = parent.started()[-1]
        assert (index, new_pid != victim) == (0, True)
        assert f"worker 0 (pid {victim}) was killed by SIGKILL; restarting it in" in parent.err()

        # The public port answers for both workers, the restarted one included.
        port = int(SERVING.findall(parent.err())[0])
        async with aiohttp.ClientSession() as client:

            async def both_healthy() -> bool:
                async with client.get(f"http://127.0.0.1:{port}/healthz") as response:
                    return response.status == 200

            await wait_until(both_healthy, 10, "/healthz of the front answering 200")

        await wait_until(
            lambda: {i for i, _ in parent.handled()} >= set(ids), 20, "every id handled"
        )
        parent.process.send_signal(signal.SIGTERM)
        assert await parent.finish(20) == 0, parent.err()
    finally:
        if parent.process.returncode is None:
            parent.process.kill()
            await parent.process.wait()
    assert {i for i, _ in parent.handled()} == set(ids)
    assert await left_in(broker, queue) == []  # every message acknowledged, none requeued


async def test_sigterm_drains_every_worker_and_exits_0(broker: Broker, tmp_path: Path) -> None:
    queue, ids = await seeded(broker, tmp_path, 3000)
    parent = await start(
        tmp_path,
        *("run", "pipeline.yaml", "--workers", "2"),
        *("--set", "processors.concurrency=3", "--progress", "0.3"),
    )
    try:
        await wait_until(
            lambda: len(parent.pids_that_handled()) == 2, 20, "both workers handling messages"
        )
        await wait_until(
            lambda: (
                "[worker 0] progress: " in parent.err() and "[worker 1] progress: " in parent.err()
            ),
            10,
            "a progress line from each worker",
        )
        parent.process.send_signal(signal.SIGTERM)
        assert await parent.finish(20) == 0, parent.err()
    finally:
        if parent.process.returncode is None:
            parent.process.kill()
            await parent.process.wait()
    err = parent.err()
    assert len(re.findall(r"worker \d \(pid \d+\) drained and exited", err)) == 2, err
    for index in (0, 1):  # each ran the same overrides, its lines saying which worker it is
        assert f"[worker {index}] starting pipeline 'workers-test' (rabbitmq producer, 3 pro" in err
    handled = {i for i, _ in parent.handled()}
    left = await left_in(broker, queue)
    assert handled | set(left) == set(ids)  # nothing lost: handled, or back in the queue
    assert len(left) < len(ids)  # and the workers did handle some before the drain


ACKED_SUCCESSFUL = re.compile(
    r'^broadway_messages_acked_total\{[^}]*outcome="successful"[^}]*\} ([0-9.e+]+)$', re.M
)


async def test_metrics_from_two_workers_add_up_to_what_was_acknowledged(
    broker: Broker, tmp_path: Path
) -> None:
    queue, ids = await seeded(broker, tmp_path, 600)
    parent = await start(tmp_path, "run", "pipeline.yaml", "--workers", "2")
    try:
        await wait_until(lambda: bool(SERVING.findall(parent.err())), 20, "the front serving")
        port = int(SERVING.findall(parent.err())[0])
        await wait_until(
            lambda: {i for i, _ in parent.handled()} >= set(ids), 30, "every id handled"
        )

        async def acked_successful() -> float:
            async with (
                aiohttp.ClientSession() as client,
                client.get(f"http://127.0.0.1:{port}/metrics") as response,
            ):
                return sum(float(v) for v in ACKED_SUCCESSFUL.findall(await response.text()))

        async def all_acked() -> bool:
            return await acked_successful() >= len(ids)

        await wait_until(all_acked, 10, "the front's acked count reaching every message")
        assert await acked_successful() == len(ids)  # summed over both workers, none counted twice
        assert len(parent.pids_that_handled()) == 2  # and both workers took part
        assert await left_in(broker, queue) == []  # on the broker: every message acked
        parent.process.send_signal(signal.SIGTERM)
        assert await parent.finish(20) == 0, parent.err()
    finally:
        if parent.process.returncode is None:
            parent.process.kill()
            await parent.process.wait()


async def test_single_process_producers_refuse_several_workers(tmp_path: Path) -> None:
    (tmp_path / "gen.yaml").write_text(
        textwrap.dedent(
            """
            name: gen
            handler: workers_test_handlers:Record
            producer:
              generator: {count: 5}
            http:
              enabled: false
            workers: 2
            """
        ).lstrip()
    )
    (tmp_path / "workers_test_handlers.py").write_text(textwrap.dedent(HANDLER))
    reason = (
        "workers: a generator producer runs inside one process: with {n} workers each would "
        "have its own generated stream; use workers: 1"
    )

    async def run(*arguments: str, env: dict[str, str] | None = None) -> tuple[int, str]:
        parent = await start(tmp_path, "run", "gen.yaml", *arguments, env=env)
        return await parent.finish(30), parent.err()

    from_file, from_flag, from_env, flag_wins = await asyncio.gather(
        run(env={"BROADWAY_WORKERS": ""}),
        run("--workers", "3", env={"BROADWAY_WORKERS": "1"}),
        run(env={"BROADWAY_WORKERS": "4"}),
        run("--workers", "1", env={"BROADWAY_WORKERS": "4"}),
    )
    assert from_file == (78, f"gen.yaml:7:10: {reason.format(n=2)}\n")
    assert from_flag == (78, f"--workers 3: {reason.format(n=3)}\n")
    assert from_env == (78, f"BROADWAY_WORKERS=4: {reason.format(n=4)}\n")
    assert flag_wins[0] == 0, flag_wins[1]  # --workers 1 over the env's 4 over the file's 2


def gone(pid: int) -> bool:
    """The process ended (a zombie nobody reaped yet counts as ended)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in status


@pytest.mark.skipif(sys.platform != "linux", reason="PR_SET_PDEATHSIG is Linux's")
async def test_workers_drain_when_their_parent_is_killed(broker: Broker, tmp_path: Path) -> None:
    queue, ids = await seeded(broker, tmp_path, 3000)
    parent = await start(tmp_path, "run", "pipeline.yaml", "--workers", "2")
    try:
        await wait_until(
            lambda: len(parent.pids_that_handled()) == 2, 20, "both workers handling messages"
        )
        pids = [pid for _, pid in parent.started()]
        parent.process.kill()
        await parent.process.wait()
        await wait_until(lambda: all(gone(pid) for pid in pids), 15, "the workers to exit")
    finally:
        if parent.process.returncode is None:
            parent.process.kill()
            await parent.process.wait()
    err = parent.err()
    for index in (0, 1):  # each drained, not killed
        assert f"[worker {index}] received SIGTERM: draining" in err
        assert f"[worker {index}] pipeline 'workers-test' stopped" in err
    handled = {i for i, _ in parent.handled()}
    assert handled | set(await left_in(broker, queue)) == set(ids)
