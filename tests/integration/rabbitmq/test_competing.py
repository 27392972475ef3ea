"""Two processes consume one queue: together they handle every message, once."""

from __future__ import annotations

import asyncio
import pathlib
import signal
import sys
from collections import Counter

import pytest

from tests.integration.rabbitmq.support import Broker
from tests.support import payloads, wait_until

pytestmark = pytest.mark.rabbitmq

PATIENCE = 60.0
ROOT = pathlib.Path(__file__).resolve().parents[3]


class Worker:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.ready = False
        self.got: list[str] = []
        self.other: list[str] = []
        self.reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, queue: str) -> Worker:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.integration.rabbitmq.worker",
            queue,
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        return cls(process)

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for raw in self.process.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            if line == "READY":
                self.ready = True
            elif line.startswith("GOT "):
                self.got.append(line[4:])
            else:
                self.other.append(line)

    async def stop(self) -> int:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(self.process.wait(), PATIENCE)
        await self.reader
        return code

    def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()


async def test_two_processes_share_a_queue(broker: Broker) -> None:
    queue = broker.name("compete")
    await broker.declare(queue)
    workers = [await Worker.start(queue), await Worker.start(queue)]
    try:
        await wait_until(
            lambda: all(w.ready for w in workers),
            PATIENCE,
            "both workers connected",
        )
        sent = payloads(400, "p")
        await broker.publish(queue, sent)
        expected = {p.decode() for p in sent}
        await wait_until(
            lambda: {g for w in workers for g in w.got} == expected, PATIENCE, "all handled"
        )

        async def drained() -> bool:
            return await broker.held(queue) == 0

        await wait_until(drained, PATIENCE, "the queue to be empty")
        codes = [await w.stop() for w in workers]
    finally:
        for worker in workers:
            worker.kill()
    assert codes == [0, 0], [w.other for w in workers]
    counts = Counter(g for w in workers for g in w.got)
    assert set(counts) == expected
    assert max(counts.values()) == 1, "no message was handled twice"
    assert all(len(w.got) > 0 for w in workers), [len(w.got) for w in workers]
