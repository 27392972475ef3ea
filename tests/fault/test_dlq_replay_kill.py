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
import os
import signal
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest

from broadway_py.connectors.kafka import headers as kafka_headers
from broadway_py.connectors.rabbitmq.copies import dead_letter_properties
from broadway_py.connectors.sqs.dead_letter import dead_letter_entry
from broadway_py.connectors.sqs.ledger import Received
from tests.support import wait_until

pytestmark = pytest.mark.fault

ROOT = Path(__file__).resolve().parents[2]
ENV = {k: v for k, v in os.environ.items() if k != "PORT"}
KAFKA = os.environ.get("BROADWAY_KAFKA_BOOTSTRAP", "127.0.0.1:39092")
RABBITMQ = os.environ.get("BROADWAY_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:35672/")
SQS = os.environ.get("BROADWAY_SQS_ENDPOINT", "http://127.0.0.1:35000")
REGION = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
HANDLER = "def handle(message):\n    return message\n"


class Broker:
    """Seeds dead letters with the connector's own code, and reads the source back."""

    name = ""
    count = 0
    most_duplicated = 0

    def producer_yaml(self) -> str:
        raise NotImplementedError

    async def seed(self) -> None: ...
    async def at_source(self) -> list[str]:
        """The payloads at the source (read, left in place)."""
        raise NotImplementedError

    async def source_count(self) -> int:
        raise NotImplementedError

    async def dead_letters(self) -> int:
        raise NotImplementedError

    async def visible_dead_letters(self) -> int:
        return await self.dead_letters()

    async def close(self) -> None: ...


class Kafka(Broker):
    name = "kafka"
    count = 2000
    most_duplicated = 100

    def __init__(self) -> None:
        suffix = uuid.uuid4().hex[:10]
        self.topic = f"dlq-kill-{suffix}"
        self.dlq = f"{self.topic}.dlq"
        self.probe: Any = None

    def producer_yaml(self) -> str:
        return (
            f"  kafka:\n    bootstrap_servers: {KAFKA}\n    topics: [{self.topic}]\n"
            f"    group_id: {self.topic}\n"
        )

    async def seed(self) -> None:
        from aiokafka import AIOKafkaProducer

        from tests.integration.kafka.broker import TopicProbe, create_topics

        await create_topics([self.topic, self.dlq], 2, KAFKA)
        producer = AIOKafkaProducer(bootstrap_servers=KAFKA, acks="all", linger_ms=5)
        await producer.start()
        try:
            now = time.time()
            futures = []
            for i in range(self.count):
                headers = kafka_headers.dead_letter_headers(
                    (), self.topic, i % 2, i, 3, "poison", now
                )
                futures.append(await producer.send(self.dlq, f"m{i}".encode(), headers=headers))
            await asyncio.gather(*futures)
        finally:
            await producer.stop()
        self.probe = TopicProbe([self.topic], KAFKA)
        await self.probe.start()

    async def source_count(self) -> int:
        return sum((await self.probe.end_offsets()).values())

    async def at_source(self) -> list[str]:
        await self.probe.end_offsets()
        return [r.value.decode() for r in self.probe.records[self.topic]]

    async def dead_letters(self) -> int:
        from aiokafka import TopicPartition

        from tests.integration.kafka.broker import GroupProbe

        group = GroupProbe(f"{self.dlq}-replay", KAFKA)
        await group.start()
        try:
            committed = await group.committed([TopicPartition(self.dlq, p) for p in (0, 1)])
        finally:
            await group.stop()
        return self.count - sum(committed.values())

    async def close(self) -> None:
        if self.probe is not None:
            await self.probe.stop()


class RabbitMQ(Broker):
    name = "rabbitmq"
    count = 1000
    most_duplicated = 1

    def __init__(self) -> None:
        self.queue = f"dlq-kill.{uuid.uuid4().hex[:10]}"
        self.dlq = f"{self.queue}.dlq"
        self.connection: Any = None

    def producer_yaml(self) -> str:
        return f"  rabbitmq:\n    url: {RABBITMQ}\n    queue: {self.queue}\n"

    async def _channel(self) -> Any:
        import aio_pika

        if self.connection is None:
            self.connection = await aio_pika.connect(RABBITMQ)
        wrapper = await self.connection.channel(publisher_confirms=True)
        return await wrapper.get_underlay_channel()

    async def seed(self) -> None:
        from pamqp.commands import Basic

        channel = await self._channel()
        await channel.queue_declare(self.queue, durable=True)
        await channel.queue_declare(self.dlq, durable=True)
        now = time.time()
        sends = []
        for i in range(self.count):
            properties = dead_letter_properties(
                Basic.Properties(message_id=f"m{i}"),
                "x-broadway-attempt",
                reason="poison",
                attempts=3,
                source_queue=self.queue,
                now=now,
            )
            sends.append(
                channel.basic_publish(f"m{i}".encode(), routing_key=self.dlq, properties=properties)
            )
        await asyncio.gather(*sends)
        await channel.close()

    async def _count(self, queue: str) -> int:
        channel = await self._channel()
        try:
            declared = await channel.queue_declare(queue, passive=True)
            return int(declared.message_count or 0)
        finally:
            await channel.close()

    async def source_count(self) -> int:
        return await self._count(self.queue)

    async def dead_letters(self) -> int:
        return await self._count(self.dlq)

    async def at_source(self) -> list[str]:
        from pamqp.commands import Basic

        channel = await self._channel()
        found = []
        try:
            while True:
                got = await channel.basic_get(self.queue, no_ack=False)
                if not isinstance(got.delivery, Basic.GetOk):
                    return found
                found.append(got.body.decode())
        finally:
            await channel.close()

    async def close(self) -> None:
        if self.connection is not None:
            channel = await self._channel()
            for queue in (self.queue, self.dlq):
                await channel.queue_delete(queue, if_unused=False, if_empty=False)
            await channel.close()
            await self.connection.close()


class Sqs(Broker):
    name = "sqs"
    count = 200  # moto slows down with depth (BROKERS.md): a few hundred at most
    most_duplicated = 10

    def __init__(self) -> None:
        self.queue = f"dlq-kill-{uuid.uuid4().hex[:10]}"
        self.dlq = f"{self.queue}-dlq"
        self.urls: dict[str, str] = {}
        self.stack = AsyncExitStack()
        self.client: Any = None

    def producer_yaml(self) -> str:
        return (
            f"  sqs:\n    queue_name: {self.queue}\n    endpoint_url: {SQS}\n"
            f"    region: {REGION}\n    dead_letter: {self.dlq}\n"
        )

    async def seed(self) -> None:
        from aiobotocore.session import get_session

        self.client = await self.stack.enter_async_context(
            get_session().create_client("sqs", region_name=REGION, endpoint_url=SQS)
        )
        for name in (self.queue, self.dlq):
            self.urls[name] = (await self.client.create_queue(QueueName=name))["QueueUrl"]
        for start in range(0, self.count, 10):
            entries = [
                dead_letter_entry(
                    str(i),
                    Received(f"id-{i}", "", f"m{i}", 0.0, attempt=3),
                    "poison",
                    self.queue,
                    False,
                )
                for i in range(start, min(start + 10, self.count))
            ]
            sent = await self.client.send_message_batch(
                QueueUrl=self.urls[self.dlq], Entries=entries
            )
            assert not sent.get("Failed")

    async def _depth(self, name: str) -> int:
        response = await self.client.get_queue_attributes(
            QueueUrl=self.urls[name],
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )
        attributes = response["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )

    async def source_count(self) -> int:
        return await self._depth(self.queue)

    async def dead_letters(self) -> int:
        return await self._depth(self.dlq)

    async def visible_dead_letters(self) -> int:
        response = await self.client.get_queue_attributes(
            QueueUrl=self.urls[self.dlq], AttributeNames=["ApproximateNumberOfMessages"]
        )
        return int(response["Attributes"]["ApproximateNumberOfMessages"])

    async def at_source(self) -> list[str]:
        found: dict[str, str] = {}
        while True:
            response = await self.client.receive_message(
                QueueUrl=self.urls[self.queue], MaxNumberOfMessages=10, VisibilityTimeout=120
            )
            messages = response.get("Messages") or []
            if not messages:
                return list(found.values())
            for message in messages:
                found[message["MessageId"]] = message["Body"]

    async def close(self) -> None:
        if self.client is not None:
            for url in self.urls.values():
                await self.client.delete_queue(QueueUrl=url)
        await self.stack.aclose()


@pytest.fixture(params=["kafka", "rabbitmq", "sqs"])
async def broker(request: pytest.FixtureRequest) -> AsyncIterator[Broker]:
    made: Broker = {"kafka": Kafka, "rabbitmq": RabbitMQ, "sqs": Sqs}[request.param]()
    try:
        await made.seed()
        yield made
    finally:
        await made.close()


async def replay(folder: Path, file: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "broadway_py", "dlq", str(file), "replay",
        cwd=folder, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env={**ENV, "PYTHONPATH": f"{folder}{os.pathsep}{ROOT}"},
    )  # fmt: skip


async def test_replay_killed_halfway_then_again_loses_nothing(
    broker: Broker, tmp_path: Path
) -> None:
    (tmp_path / "dlq_kill_handler.py").write_text(HANDLER)
    file = tmp_path / "pipeline.yaml"
    file.write_text(
        f"name: dlq-kill\nhandler: dlq_kill_handler:handle\nproducer:\n{broker.producer_yaml()}"
    )
    assert await broker.dead_letters() == broker.count

    first = await replay(tmp_path, file)

    async def some_replayed() -> bool:
        return await broker.source_count() >= broker.count // 4

    try:
        await wait_until(some_replayed, 60, "a quarter replayed", interval=0.02)
        assert first.returncode is None, "the replay finished before the kill"
        first.send_signal(signal.SIGKILL)
    finally:
        await asyncio.wait_for(first.communicate(), 30)
    assert first.returncode == -signal.SIGKILL
    killed_at = await broker.source_count()
    assert killed_at < broker.count, "the replay finished before the kill"

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
    lost = {f"m{i}" for i in range(broker.count)} - set(seen)
    duplicated = sum(n - 1 for n in seen.values())
    print(
        f"{broker.name}: {broker.count} dead letters; replay killed with {killed_at} at the "
        f"source, the second replayed {replayed_again}: lost {len(lost)}, "
        f"duplicated {duplicated}"
    )
    assert not lost, f"lost {len(lost)}: {sorted(lost)[:10]}"
    assert sum(seen.values()) == killed_at + replayed_again
    assert duplicated <= broker.most_duplicated
    assert await broker.dead_letters() == 0
