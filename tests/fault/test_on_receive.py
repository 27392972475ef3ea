"""``producer.acknowledge: on_receive`` against a SIGKILL, on each real broker.

Acknowledged on receipt, what the killed process held is gone: the broker has
it acked (RabbitMQ: neither ready nor unacknowledged; Kafka: the group's
committed offsets at the end; SQS: deleted) before the kill and redelivers
none of it after. Lost: every message in flight; duplicated: none. The same
kill with the default (``after_processing``) leaves the broker holding every
message, and a restarted process handles each of them again: lost none,
duplicated every one. Counted on the broker and in the handler's record.

The handler (below, named in the pipeline file) records each chunk it is
given, then holds each message until the process is killed
(``BROADWAY_ON_RECEIVE_HOLD=1``), or handles it at once (the restart).
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from broadway_py import Handler, Message
from tests.contract.harness_rabbitmq import raw_channel
from tests.fault.adapter import Adapter
from tests.fault.adapter_kafka import KafkaAdapter
from tests.fault.adapter_rabbitmq import RabbitMQAdapter
from tests.fault.adapter_sqs import SqsAdapter
from tests.fault.brokers import BROKERS
from tests.fault.service import Service, pipeline_file
from tests.support import wait_until

pytestmark = pytest.mark.fault

COUNT = 20
"""Messages per case: every one fits in the processors at once (one chunk each at most)."""
PATIENCE = 60.0
HOLD = "BROADWAY_ON_RECEIVE_HOLD"


class HoldingHandler(Handler):
    """Records ``got <id>`` per message it is given, ``done <id>`` per message it let go."""

    def __init__(self) -> None:
        record = os.environ.get("BROADWAY_FAULT_RECORD", os.devnull)
        self.fd = os.open(record, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.hold = os.environ.get(HOLD) == "1"

    def prepare_messages(self, messages: list[Message]) -> list[Message]:
        os.write(self.fd, "".join(f"got {int(m.data)}\n" for m in messages).encode())
        return messages

    async def handle_message(self, message: Message) -> Message:
        if self.hold:
            await asyncio.Event().wait()  # never set: in flight until the SIGKILL
        os.write(self.fd, f"done {int(message.data)}\n".encode())
        return message


def record_of(path: Path) -> tuple[Counter[int], Counter[int]]:
    """(times each id was given to the handler, times each id was done)."""
    got: Counter[int] = Counter()
    done: Counter[int] = Counter()
    if path.exists():
        for line in path.read_text().splitlines():
            kind, ident = line.split()
            (got if kind == "got" else done)[int(ident)] += 1
    return got, done


def adapter_for(broker: str) -> Adapter:
    if broker == "rabbitmq":
        return RabbitMQAdapter(COUNT)
    if broker == "kafka":
        return KafkaAdapter(COUNT)
    return SqsAdapter(COUNT)


@pytest.fixture(params=BROKERS)
async def adapter(request: pytest.FixtureRequest) -> AsyncIterator[Adapter]:
    made = adapter_for(request.param)
    try:
        await made.seed()
        yield made
    finally:
        await made.close()


async def held(adapter: Adapter) -> int:
    """Messages of the source the broker holds, to deliver again, once no consumer has any.

    RabbitMQ: a passive declare answers at once (rabbitmqctl's counts of a
    quorum queue lag); read once the broker let go of the killed consumer, its
    ready count includes what that consumer had unacknowledged. Kafka: records
    past the group's committed offsets. SQS: visible, in flight or delayed.
    """
    if not isinstance(adapter, RabbitMQAdapter):
        return await adapter.left()
    channel = await raw_channel(await adapter._connect(), confirms=False)
    try:
        counts: list[int] = []

        async def released() -> bool:
            declared = await channel.queue_declare(adapter.queue, passive=True)
            counts[:] = [declared.message_count or 0]
            return not declared.consumer_count

        await wait_until(released, PATIENCE, "the killed consumer gone", 0.2)
        return counts[0]
    finally:
        await channel.close()


def config(adapter: Adapter, folder: Path, acknowledge: str) -> Path:
    producer: dict[str, Any] = {**adapter.producer(), "acknowledge": acknowledge}
    if "kafka" in producer:
        producer["kafka"] = {**producer["kafka"], "commit_interval": 0.2}
    sections: dict[str, Any] = {
        **adapter.sections(),
        "handler": "tests.fault.test_on_receive:HoldingHandler",
        "processors": {"concurrency": COUNT, "max_demand": COUNT},
        "batchers": {},
    }
    if acknowledge == "on_receive":  # nothing is retried nor dead-lettered: say so
        sections["retry"] = {"max_attempts": 1, "dead_letter": False}
        sections.pop("dead_letter", None)
    return pipeline_file(folder, f"on-receive-{adapter.name}-{acknowledge}", producer, **sections)


async def started(adapter: Adapter, path: Path, record: Path, hold: bool) -> Service:
    env = {**adapter.env, HOLD: "1" if hold else "0"}
    return await Service(path, record, env).start()


async def every_id_given(service: Service, record: Path) -> None:
    def given() -> bool:
        service.assert_alive()
        return len(record_of(record)[0]) == COUNT

    await wait_until(given, PATIENCE, f"all {COUNT} ids given to the handler", 0.1)


async def broker_holds(adapter: Adapter, count: int, what: str) -> None:
    async def holds() -> bool:
        return await held(adapter) == count

    await wait_until(holds, PATIENCE, what, 0.2)


async def test_on_receive_a_sigkill_loses_what_was_in_flight_and_duplicates_none(
    adapter: Adapter, tmp_path: Path
) -> None:
    path = config(adapter, tmp_path, "on_receive")
    record = tmp_path / "on-receive.records"
    service = await started(adapter, path, record, hold=True)
    try:
        await every_id_given(service, record)
        if not isinstance(adapter, RabbitMQAdapter):  # RabbitMQ: counted once the kill is seen
            # Acked as received: the broker let go of every one while all are in flight.
            await broker_holds(adapter, 0, f"{adapter.name}: every message acked on receipt")
        await service.kill()
    finally:
        await service.close()
    redeliverable = await held(adapter)
    got, done = record_of(record)
    lost = COUNT - redeliverable - len(done)
    duplicated = sum(n - 1 for n in got.values())
    print(f"{adapter.name} on_receive sigkill: lost {lost}, duplicated {duplicated}")
    assert (redeliverable, lost, duplicated) == (0, COUNT, 0)


async def test_after_processing_the_same_sigkill_redelivers_every_message(
    adapter: Adapter, tmp_path: Path
) -> None:
    path = config(adapter, tmp_path, "after_processing")
    record = tmp_path / "after-processing.records"
    service = await started(adapter, path, record, hold=True)
    try:
        await every_id_given(service, record)
        await service.kill()
        assert await held(adapter) == COUNT, "acked before its outcome was known"
        again = await started(adapter, path, record, hold=False)
        try:

            def all_done() -> bool:
                again.assert_alive()
                return len(record_of(record)[1]) == COUNT

            await wait_until(all_done, PATIENCE, "every id handled after the restart", 0.2)
        finally:
            code, _ = await again.terminate()
            assert code == 0, again.err()[-3000:]
    finally:
        await service.close()
    assert await held(adapter) == 0, "the restarted process acked every message at its drain"
    got, done = record_of(record)
    lost = COUNT - len(done)
    duplicated = sum(n - 1 for n in got.values())
    print(f"{adapter.name} after_processing sigkill: lost {lost}, duplicated {duplicated}")
    assert (lost, duplicated) == (0, COUNT)
