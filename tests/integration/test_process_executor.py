"""``processors: {executor: process}`` from a pipeline file, with a handler in a module.

Once loaded in this process, once through ``python -m broadway_py run`` (the
service's own main module, which the worker processes must not run again).
"""

from __future__ import annotations

import asyncio
import os
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from broadway_py.config import load_pipeline
from broadway_py.connectors.memory import DEFAULT_BROKER

HANDLERS = """
import os

from broadway_py import Handler

BATCHED = []


def busy(n):
    return sum(i * i for i in range(3_000 + n % 7))


class Crunch(Handler):
    def handle_message(self, message):
        n = int(message.data)
        busy(n)
        if n % 10 == 9:
            raise ValueError(f"bad {n}")
        return message.put_data((n, os.getpid())).put_batcher("db")

    def handle_batch(self, batcher, messages, info):
        BATCHED.extend(m.data for m in messages)
        out = os.environ.get("CRUNCH_OUT")
        if out:
            with open(out, "a") as sink:
                sink.writelines(f"{n} {pid}\\n" for n, pid in (m.data for m in messages))
        return messages
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path


def write_handlers(folder: Path) -> str:
    name = f"crunch_{uuid.uuid4().hex[:10]}"
    (folder / f"{name}.py").write_text(textwrap.dedent(HANDLERS))
    return name


async def test_a_pipeline_file_runs_its_handler_in_worker_processes(folder: Path) -> None:
    module = write_handlers(folder)
    queue_name = f"process-{uuid.uuid4().hex[:8]}"
    path = folder / "pipeline.yaml"
    path.write_text(
        textwrap.dedent(
            f"""
            name: crunch
            handler: {module}:Crunch
            producer:
              memory: {{queue: {queue_name}}}
            processors: {{executor: process, concurrency: 2, max_demand: 10}}
            batchers:
              db: {{batch_size: 10, batch_timeout: 0.01}}
            retry: {{max_attempts: 1}}
            """
        )
    )
    saved_path = list(sys.path)
    try:
        _, pipeline = load_pipeline(path, env={})
        assert pipeline.processor_options.executor == "process"
        queue = DEFAULT_BROKER.queue(queue_name)
        queue.push_many(str(n).encode() for n in range(100))
        async with pipeline:
            await queue.wait_idle(60)
        batched = sys.modules[module].BATCHED
    finally:
        sys.path[:] = saved_path
        sys.modules.pop(module, None)
    assert sorted(n for n, _ in batched) == [n for n in range(100) if n % 10 != 9]
    workers = {pid for _, pid in batched}
    assert os.getpid() not in workers
    assert len(workers) >= 2
    assert sorted((int(d.data), d.reason) for d in queue.dead_letters) == [
        (n, f"ValueError: bad {n}") for n in range(9, 100, 10)
    ]


async def test_the_service_runs_a_process_executor_pipeline_to_its_end(folder: Path) -> None:
    module = write_handlers(folder)
    (folder / "pipeline.yaml").write_text(
        textwrap.dedent(
            f"""
            name: crunch
            handler: {module}:Crunch
            producer:
              generator: {{count: 200, payload: "{{seq}}"}}
            processors: {{executor: process, concurrency: 2, max_demand: 10}}
            batchers:
              db: {{batch_size: 10, batch_timeout: 0.01}}
            retry: {{max_attempts: 1}}
            """
        )
    )
    out = folder / "out.txt"
    env = {k: v for k, v in os.environ.items() if k != "PORT"}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "broadway_py",
        "run",
        "pipeline.yaml",
        cwd=folder,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**env, "CRUNCH_OUT": str(out), "PYTHONUNBUFFERED": "1"},
    )
    _, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, err.decode(errors="replace")[-3000:]
    rows = [line.split() for line in out.read_text().splitlines()]
    seqs = sorted(int(n) for n, _ in rows)
    assert len(seqs) == len(set(seqs)) == 180
    assert all(n % 10 != 9 for n in seqs)
    workers = {int(pid) for _, pid in rows}
    assert process.pid not in workers
    assert len(workers) >= 2
