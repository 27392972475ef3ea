"""SIGKILL of ``broadway-py dlq FILE replay`` halfway, then the replay again, on each broker.

The dead letters are published with each connector's own dead-letter code
(the headers / attributes its acknowledger writes). A replay removes a dead
letter only after the broker confirmed its copy at the source, so the kill
loses nothing: every dead letter reaches the source at least once. What the
killed replay had sent but not yet removed is sent again by the second run:
those duplicates are counted on the broker, reported, and bounded by what
one replay holds between the confirm and the removal (RabbitMQ: one message;
SQS: one batch of 10; Kafka: one fetch of 100 records before their commit).
"""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.dlq_brokers import KINDS, DeadLetterBroker, dead_letter_broker, start_cli, write_pipeline
from tests.support import wait_until

pytestmark = pytest.mark.fault

HANDLER = "def handle(message):\n    return message\n"
# moto slows down with depth (BROKERS.md): a few hundred SQS messages at most
COUNT = {"kafka": 2000, "rabbitmq": 1000, "sqs": 200}
# what one replay holds between the confirm and the removal
MOST_DUPLICATED = {"kafka": 100, "rabbitmq": 1, "sqs": 10}


@pytest.fixture(params=KINDS)
async def broker(request: pytest.FixtureRequest) -> AsyncIterator[DeadLetterBroker]:
    made = dead_letter_broker(request.param, "dlq-kill", kafka_partitions=2)
    try:
        await made.create()
        await made.seed_dead_letters([f"m{i}".encode() for i in range(COUNT[made.name])])
        yield made
    finally:
        await made.close()


async def replay(folder: Path, file: Path) -> asyncio.subprocess.Process:
    return await start_cli(folder, "dlq", str(file), "replay", stdout=asyncio.subprocess.PIPE)


async def test_replay_killed_halfway_then_again_loses_nothing(
    broker: DeadLetterBroker, tmp_path: Path
) -> None:
    count = COUNT[broker.name]
    file = write_pipeline(
        tmp_path, "dlq-kill", "dlq_kill_handler:handle", HANDLER, producer=broker.producer()
    )
    assert await broker.dead_letters() == count

    first = await replay(tmp_path, file)

    async def some_replayed() -> bool:
        return await broker.source_count() >= count // 4

    try:
        await wait_until(some_replayed, 60, "a quarter replayed", interval=0.02)
        assert first.returncode is None, "the replay finished before the kill"
        first.send_signal(signal.SIGKILL)
    finally:
        await asyncio.wait_for(first.communicate(), 30)
    assert first.returncode == -signal.SIGKILL
    killed_at = await broker.source_count()
    assert killed_at < count, "the replay finished before the kill"

    # SQS: the killed replay's last batch (10 at most) stays invisible until its
    # visibility timeout ends; it is in the dead-letter queue, not lost, and the
    # second replay can see it only then.
    async def all_visible() -> bool:
        return await broker.visible_dead_letters() == await broker.dead_letters()

    await wait_until(all_visible, 40, "every dead letter visible again", 0.5)
    second = await replay(tmp_path, file)
    out, err = await asyncio.wait_for(second.communicate(), 120)
    assert second.returncode == 0, err.decode()[-2000:]
    replayed_again = int(out.decode().split("replayed ", 1)[1].split()[0])

    seen = Counter(await broker.at_source())
    lost = {f"m{i}".encode() for i in range(count)} - set(seen)
    duplicated = sum(n - 1 for n in seen.values())
    print(
        f"{broker.name}: {count} dead letters; replay killed with {killed_at} at the "
        f"source, the second replayed {replayed_again}: lost {len(lost)}, "
        f"duplicated {duplicated}"
    )
    assert not lost, f"lost {len(lost)}: {sorted(lost)[:10]}"
    assert sum(seen.values()) == killed_at + replayed_again
    assert duplicated <= MOST_DUPLICATED[broker.name]
    assert await broker.dead_letters() == 0
