"""SIGKILL of ``broadway-py run`` with ``partition_by: key``, then a restart: nothing lost.

With ``partition_by: key`` the records of one partition finish out of order
across processors; the commit must still never pass a record that is not
done, or a crash would lose it. One partition holds 8 interleaved keys, 4
processors route by key, the handler takes 10 ms. The process is killed once
a third of the records were handled, and a new one finishes the work.

Counted on the broker: the group's committed offset reaches the end of the
partition, and every published record was handled at least once (none lost).
Within each process every key was handled in the order it was published, and
the restarted process took each key up no later than where the killed one
left it. Duplicates (records handled by both processes: finished but not yet
committed at the kill) are reported, not failed on.

The handler (:func:`handle`, below) is named in the pipeline file;
the CLI imports it from this module.
"""

from __future__ import annotations

import asyncio
import os
from collections import defaultdict
from pathlib import Path

import pytest

from broadway_py import Message
from tests.fault.service import Service, pipeline_file
from tests.integration.kafka.broker import (
    FAST_GROUP,
    GroupProbe,
    TopicProbe,
    create_topics,
    publish,
    unique,
)
from tests.support import wait_until

pytestmark = pytest.mark.fault

KEYS = 8
PER_KEY = 100
WORK = 0.01
PATIENCE = 60.0


_record_fd: list[int] = []


async def handle(message: Message) -> Message:
    """Appends ``<pid> <key> <sequence>`` per handled record (one ``os.write``: whole lines)."""
    await asyncio.sleep(WORK)  # sleep-ok: simulated work, keeps records in flight
    if not _record_fd:
        record = os.environ.get("BROADWAY_FAULT_RECORD", os.devnull)
        _record_fd.append(os.open(record, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644))
    key, _, sequence = bytes(message.data).partition(b"/")
    os.write(_record_fd[0], b"%d %s %s\n" % (os.getpid(), key, sequence))
    return message


def handled(record: Path) -> list[tuple[int, str, int]]:
    if not record.exists():
        return []
    rows = []
    for line in record.read_text().splitlines():
        pid, key, sequence = line.split()
        rows.append((int(pid), key, int(sequence)))
    return rows


async def uncommitted(topic: str, group: str) -> int:
    topics, probe = TopicProbe([topic]), GroupProbe(group)
    await topics.start()
    await probe.start()
    try:
        ends = await topics.end_offsets()
        committed = await probe.committed(list(ends))
        return sum(end - committed[tp] for tp, end in ends.items())
    finally:
        await probe.stop()
        await topics.stop()


async def test_sigkill_with_partition_by_key_then_restart_loses_nothing(tmp_path: Path) -> None:
    topic, group = unique("keyed-kill"), unique("keyed-kill-group")
    await create_topics([topic, f"{topic}.retry", f"{topic}.dlq"], 1)
    keys = [f"k{index}" for index in range(KEYS)]
    records = [(key, sequence) for sequence in range(PER_KEY) for key in keys]
    await publish(
        topic,
        [f"{key}/{sequence}".encode() for key, sequence in records],
        keys=[key.encode() for key, _ in records],
        partition=0,
    )
    producer = {
        "kafka": {
            "bootstrap_servers": os.environ.get("BROADWAY_KAFKA_BOOTSTRAP", "127.0.0.1:39092"),
            "topics": [topic],
            "group_id": group,
            "retry_topic": f"{topic}.retry",
            **FAST_GROUP,
        }
    }
    config = pipeline_file(
        tmp_path,
        "keyed-kill",
        producer,
        handler=f"{__name__}:handle",
        processors={"concurrency": 4, "max_demand": 10, "partition_by": "key"},
        batchers={},
        dead_letter={"destination": f"{topic}.dlq"},
    )
    record = tmp_path / "keyed-kill.records"
    first = await Service(config, record).start()
    second: Service | None = None
    try:

        def a_third_handled() -> bool:
            first.assert_alive()
            return len(handled(record)) >= len(records) // 3

        await wait_until(a_third_handled, PATIENCE, "a third of the records handled", 0.05)
        await first.kill()
        killed_at = len(handled(record))
        assert killed_at < len(records), "the workload finished before the kill"
        second = await Service(config, record).start()
        survivor = second

        async def finished() -> bool:
            survivor.assert_alive()
            seen = {(key, sequence) for _, key, sequence in handled(record)}
            return len(seen) == len(records) and await uncommitted(topic, group) == 0

        await wait_until(finished, PATIENCE, "every record handled and committed", 0.2)
        code, _ = await second.terminate()
        assert code == 0, second.err()[-3000:]
    finally:
        for service in (first, second):
            if service is not None:
                await service.close()

    rows = handled(record)
    seen = {(key, sequence) for _, key, sequence in rows}
    lost = set(records) - seen
    duplicates = len(rows) - len(seen)
    left = await uncommitted(topic, group)
    print(
        f"kafka partition_by key sigkill: {len(records)} published, {killed_at} handled at the "
        f"kill, lost {len(lost)}, duplicated {duplicates}, uncommitted {left}"
    )
    assert not lost, sorted(lost)[:20]
    assert left == 0
    by_process: dict[int, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for pid, key, sequence in rows:
        by_process[pid][key].append(sequence)
    assert len(by_process) == 2, list(by_process)
    killed, restarted = by_process.values()
    for sequences in (*killed.values(), *restarted.values()):
        # Each key in publishing order, within a process (no record handled twice by one).
        assert sequences == sorted(set(sequences)), sequences
    for key in keys:
        # The restart took the key up no later than where the killed process left it.
        after = restarted.get(key, [PER_KEY])[0]
        assert after <= (max(killed[key]) + 1 if key in killed else 0), (key, after)
