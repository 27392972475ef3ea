"""Two pipelines in one group, in separate processes: sharing, and a SIGKILL mid-batch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.kafka.broker import (
    GroupProbe,
    TopicProbe,
    create_topics,
    publish,
    unique,
)
from tests.support import payloads, wait_until

pytestmark = pytest.mark.kafka

ROOT = Path(__file__).resolve().parents[3]
PARTITIONS = 4


class WorkerProcess:
    def __init__(self, topic: str, group: str, out: Path, *extra: str) -> None:
        self.out = out
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.integration.kafka.worker",
                "--topic",
                topic,
                "--group",
                group,
                "--out",
                str(out),
                *extra,
            ],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.DEVNULL,
            stderr=open(f"{out}.log", "wb"),  # noqa: SIM115
        )

    def records(self) -> list[dict[str, Any]]:
        if not self.out.exists():
            return []
        return [json.loads(line) for line in self.out.read_text().splitlines() if line]

    def assigned(self) -> set[tuple[str, int]]:
        latest: list[list[Any]] = []
        for record in self.records():
            if "assigned" in record:
                latest = record["assigned"]
        return {(t, p) for t, p in latest}

    def handled(self) -> list[tuple[int, int, str]]:
        return [tuple(row) for r in self.records() for row in r.get("batch", [])]  # type: ignore[misc]

    def stuck(self) -> list[tuple[int, int, str]]:
        return [tuple(row) for r in self.records() for row in r.get("stuck", [])]  # type: ignore[misc]

    def diagnostics(self) -> str:
        log = Path(f"{self.out}.log")
        tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
        return f"{self.out.name}: {self.records()[-5:]}\n{tail}"

    def stop(self, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[list[WorkerProcess]]:
    started: list[WorkerProcess] = []
    yield started
    for worker in started:
        worker.kill()


async def test_two_processes_share_the_partitions_and_process_everything(
    tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    topic, group = unique("shared"), unique("shared-group")
    await create_topics([topic], PARTITIONS)
    first = WorkerProcess(topic, group, tmp_path / "first.jsonl")
    second = WorkerProcess(topic, group, tmp_path / "second.jsonl")
    workers.extend([first, second])
    source = {(topic, p) for p in range(PARTITIONS)}

    def split_between_both() -> bool:
        a, b = first.assigned(), second.assigned()
        sources_a, sources_b = {x for x in a if x[0] == topic}, {x for x in b if x[0] == topic}
        return bool(sources_a) and bool(sources_b) and sources_a | sources_b == source

    await wait_until(split_between_both, 40, "both workers to hold source partitions")
    sent = payloads(400, "g")
    keys = [str(i).encode() for i in range(len(sent))]
    await publish(topic, sent, keys=keys)
    expected = {p.decode() for p in sent}

    def all_handled() -> bool:
        return {row[2] for row in first.handled() + second.handled()} >= expected

    await wait_until(all_handled, 60, "every message handled by one of the workers")
    assert first.stop() == 0, first.diagnostics()
    assert second.stop() == 0, second.diagnostics()
    by_first = {row[2] for row in first.handled()}
    by_second = {row[2] for row in second.handled()}
    assert by_first, first.diagnostics()
    assert by_second, second.diagnostics()
    assert by_first | by_second == expected
    # Each partition's messages were handled in offset order by whoever held it (a message
    # handled again after a rebalance is a redelivery: only first handlings are compared).
    for worker in (first, second):
        last: dict[int, int] = {}
        seen: set[tuple[int, int]] = set()
        for partition, offset, _ in worker.handled():
            if (partition, offset) in seen:
                continue
            seen.add((partition, offset))
            assert offset > last.get(partition, -1), worker.diagnostics()
            last[partition] = offset
    probe = GroupProbe(group)
    await probe.start()
    try:
        ends = TopicProbe([topic])
        await ends.start()
        try:
            end = await ends.end_offsets()
        finally:
            await ends.stop()
        assert await probe.committed(list(end)) == end
    finally:
        await probe.stop()


async def test_a_worker_killed_mid_batch_has_its_uncommitted_messages_redelivered(
    tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    topic, group = unique("killed"), unique("killed-group")
    await create_topics([topic], PARTITIONS)
    # The victim handles two batches, then hangs in its third, holding those messages.
    victim = WorkerProcess(topic, group, tmp_path / "victim.jsonl", "--stick-after", "2")
    workers.append(victim)
    await wait_until(lambda: len(victim.assigned()) > 0, 40, "the victim to join")
    sent = payloads(200, "k")
    keys = [str(i).encode() for i in range(len(sent))]
    await publish(topic, sent, keys=keys)
    await wait_until(lambda: bool(victim.stuck()), 40, "the victim to get stuck mid-batch")
    stuck = {row[2] for row in victim.stuck()}
    assert stuck
    survivor = WorkerProcess(topic, group, tmp_path / "survivor.jsonl")
    workers.append(survivor)
    await wait_until(lambda: len(survivor.assigned()) > 0, 40, "the survivor to join")
    victim.kill()
    assert victim.process.returncode == -signal.SIGKILL
    expected = {p.decode() for p in sent}
    victim_done = {row[2] for row in victim.handled()}

    def everything_handled() -> bool:
        return victim_done | {row[2] for row in survivor.handled()} >= expected

    await wait_until(everything_handled, 60, "the survivor to handle what the victim left")
    survivor_done = {row[2] for row in survivor.handled()}
    # The batch the victim was stuck in (never acked, never committed) went to the survivor.
    assert stuck <= survivor_done, survivor.diagnostics()
    assert victim_done | survivor_done == expected
    assert survivor.stop() == 0, survivor.diagnostics()
    probe = GroupProbe(group)
    ends = TopicProbe([topic])
    await probe.start()
    await ends.start()
    try:
        end = await ends.end_offsets()
        assert await probe.committed(list(end)) == end
    finally:
        await ends.stop()
        await probe.stop()
