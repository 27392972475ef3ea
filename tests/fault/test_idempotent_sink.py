"""SIGKILL between an idempotent sink's commit and its ack, then a restart, on RabbitMQ.

The sink is examples/idempotent_sink.py, run by ``broadway-py run`` on the
shared RabbitMQ server (a quorum queue of its own; nothing is restarted).
Publishers set ``message_id``, so ``message.id`` is the same on every
delivery. The first process commits a batch and is SIGKILLed before the
ack: the broker redelivers that batch (and whatever else was unacked) to the
second process, whose inserts of the batch's ids conflict and write nothing.

Counted on the broker and in the sink's table, and printed:
lost (published ids without a row) must be 0; duplicated (rows beyond one
per id) must be 0; dead_lettered must be 0 (nothing fails); redelivered
(messages the sink was given again after its commit) must be above 0, or the
kill did not land between the commit and the ack and the case proved
nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections import Counter
from pathlib import Path

import aio_pika
import pytest
from pamqp.commands import Basic

from tests.contract.harness_rabbitmq import raw_channel
from tests.fault.adapter_rabbitmq import QUORUM, RabbitMQAdapter
from tests.fault.service import Service, pipeline_file
from tests.support import wait_until

pytestmark = [pytest.mark.fault, pytest.mark.rabbitmq]

COUNT = 300
PATIENCE = 60.0
POLL = 0.2


def message_id(ident: int) -> str:
    return f"order-{ident}"


async def seed(adapter: RabbitMQAdapter) -> None:
    """The quorum source queue, its dead-letter queue, and COUNT messages with message_id."""
    async with await aio_pika.connect(adapter.url) as connection:
        channel = await raw_channel(connection)
        await channel.queue_declare(adapter.queue, durable=True, arguments=QUORUM)
        await channel.queue_declare(adapter.dead_letter_queue, durable=True)
        await asyncio.gather(
            *(
                channel.basic_publish(
                    str(i).encode(),
                    routing_key=adapter.queue,
                    properties=Basic.Properties(delivery_mode=2, message_id=message_id(i)),
                )
                for i in range(1, COUNT + 1)
            )
        )


def table(path: Path) -> Counter[str]:
    """Rows per message id in the sink's table (none while it does not exist yet)."""
    if not path.exists():
        return Counter()
    with contextlib.closing(sqlite3.connect(path, timeout=30)) as db:
        try:
            return Counter(row[0] for row in db.execute("SELECT message_id FROM processed"))
        except sqlite3.OperationalError:
            return Counter()  # the table is not made yet


def sightings(record: Path) -> tuple[Counter[str], int, int]:
    """From the sink's record: deliveries per id, rows inserted, messages flagged redelivered."""
    seen: Counter[str] = Counter()
    inserted = flagged = 0
    if record.exists():
        for line in record.read_text().splitlines():
            kind, *fields = line.split()
            if kind == "batch":
                inserted += int(fields[0])
            else:
                seen[fields[0]] += 1
                flagged += fields[2] == "1"
    return seen, inserted, flagged


async def test_sigkill_between_commit_and_ack_writes_each_id_once(tmp_path: Path) -> None:
    adapter = RabbitMQAdapter(COUNT)
    services: list[Service] = []
    database = tmp_path / "sink.db"
    record = tmp_path / "sink.records"
    marker = tmp_path / "committed-not-acked"
    config = pipeline_file(
        tmp_path,
        "fault-rabbitmq-idempotent-sink",
        adapter.producer(),
        handler="tests.fault.handler_idempotent:WatchedSink",
        batchers={"sink": {"batch_size": 10, "batch_timeout": 0.1}},
        **adapter.sections(),
    )
    env = {"IDEMPOTENT_SINK_DB": str(database)}
    try:
        await seed(adapter)
        first = Service(
            config,
            record,
            {
                **env,
                "IDEMPOTENT_KILL_MARKER": str(marker),
                "IDEMPOTENT_KILL_AFTER": str(COUNT // 3),
            },
        )
        services.append(await first.start())

        def committed_not_acked() -> bool:
            first.assert_alive()
            return marker.exists()

        await wait_until(committed_not_acked, PATIENCE, "a batch committed, not acked", POLL)
        await first.kill()
        killed_batch = marker.read_text().split()
        assert killed_batch, "the marker names the batch committed before the kill"
        assert set(killed_batch) <= set(table(database)), "the killed batch was committed"

        second = Service(config, record, env)
        services.append(await second.start())
        expected = {message_id(i) for i in range(1, COUNT + 1)}

        async def finished() -> bool:
            second.assert_alive()
            return set(table(database)) == expected and await adapter.left() == 0

        await wait_until(finished, PATIENCE, "every id written, the queue empty", POLL)
        code, _ = await second.terminate()
        assert code == 0, f"exit {code} after SIGTERM:\n{second.err()[-3000:]}"

        async def empty() -> bool:
            return await adapter.left() == 0

        await wait_until(empty, 10.0, "the source queue empty once the pipeline stopped", 0.5)
        rows = table(database)
        seen, inserted, flagged = sightings(record)
        dead = await adapter.dead_letters()
        lost = expected - set(rows)
        duplicated = sum(n - 1 for n in rows.values())
        redelivered = sum(n - 1 for n in seen.values())
        print(
            f"rabbitmq idempotent sink: lost={len(lost)} duplicated={duplicated} "
            f"dead_lettered={len(dead)} redelivered={redelivered} "
            f"(flagged by the broker: {flagged}) left_on_broker={await adapter.left()}"
        )
        assert not lost, f"ids without a row: {sorted(lost)[:10]}"
        assert duplicated == 0
        assert set(rows) == expected, "rows only for published ids"
        assert inserted == COUNT, "each id inserted once, every other write of it a no-op"
        assert dead == []
        assert redelivered > 0, "the sink was never given a message again: the kill proved nothing"
        assert all(seen[ident] >= 2 for ident in killed_batch), "the killed batch came again"
    finally:
        for service in services:
            await service.close()
        await adapter.close()
