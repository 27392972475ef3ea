"""``processors.timeout`` through the real CLI, on each real broker.

A synchronous handler stuck for good on one id, run with ``executor: thread``:
that id fails with the timeout as its reason and, with one attempt, ends as
the broker's dead letter; every other id is acked; the abandoned call is
logged; and SIGTERM still ends the process with exit 0 (the stuck thread is a
daemon), the source finished on the broker.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from broadway_py import Message
from tests.fault.adapter import Adapter
from tests.fault.adapter_kafka import KafkaAdapter
from tests.fault.adapter_rabbitmq import RabbitMQAdapter
from tests.fault.adapter_sqs import SqsAdapter
from tests.fault.brokers import BROKERS
from tests.fault.service import Service, pipeline_file
from tests.support import wait_until

COUNT = 30
STUCK = 7
PATIENCE = 60.0
_never = threading.Event()


def stuck_on_seven(message: Message) -> Message:
    """Never returns for id 7 (the event is never set); returns every other message."""
    if int(message.data) == STUCK:
        _never.wait()
    return message


@pytest.fixture(params=BROKERS)
async def adapter(request: pytest.FixtureRequest) -> AsyncIterator[Adapter]:
    made: Adapter
    if request.param == "rabbitmq":
        made = RabbitMQAdapter(COUNT)
    elif request.param == "kafka":
        made = KafkaAdapter(COUNT)
    else:
        made = SqsAdapter(COUNT)
    try:
        await made.seed()
        yield made
    finally:
        await made.close()


async def test_a_stuck_call_fails_its_message_and_the_process_still_stops(
    adapter: Adapter, tmp_path: Path
) -> None:
    path = pipeline_file(
        tmp_path,
        f"timeout-{adapter.name}",
        adapter.producer(),
        **{
            **adapter.sections(),
            "handler": "tests.integration.test_timeout:stuck_on_seven",
            "processors": {
                "concurrency": 2,
                "max_demand": 10,
                "executor": "thread",
                "timeout": 0.5,
            },
            "batchers": {},
            "retry": {"max_attempts": 1},
        },
    )
    service = await Service(path, tmp_path / "unused.records", adapter.env).start()
    try:

        async def finished() -> bool:
            service.assert_alive()
            return await adapter.dead_letters() == [STUCK] and await adapter.left() == 0

        await wait_until(finished, PATIENCE, f"id {STUCK} dead-lettered, the rest acked", 0.2)
        code, _ = await service.terminate()
    finally:
        await service.close()
    assert code == 0, service.err()[-3000:]
    log = service.err()
    assert "abandoned a handle_message call past processors.timeout (0.5s" in log
    assert await adapter.left() == 0
    assert await adapter.dead_letters() == [STUCK]
