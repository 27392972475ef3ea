"""One class per broker for the dead-letter tests, counting on the broker itself.

tests/integration/test_dlq.py dead-letters through a real pipeline and drives
``broadway-py dlq``; tests/fault/test_dlq_replay_kill.py seeds dead letters
with each connector's own dead-letter code and kills a replay halfway. Both
need, per broker: the pipeline file's producer section, the source and the
dead-letter destination, what the broker holds in each, and what is back at
the source. Every count here is the broker's (Kafka: records past the replay
group's committed offset; RabbitMQ: the depth a passive declare reports; SQS:
its approximate counts), never the pipeline's own say-so.

Kafka and RabbitMQ declare their own dead-letter destination when a pipeline
first needs it, so ``create`` makes the source only and a count of a
destination not there yet raises :class:`NotDeclared`; an SQS pipeline names
a dead-letter queue that must exist, so ``create`` makes both.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from collections.abc import Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, Protocol

import yaml
from aiokafka import AIOKafkaProducer, TopicPartition

from broadway_py.connectors.kafka import headers as kafka_headers
from broadway_py.connectors.rabbitmq.copies import (
    ATTEMPTS_HEADER,
    REASON_HEADER,
    dead_letter_properties,
)
from broadway_py.connectors.rabbitmq.options import RetryOptions
from broadway_py.connectors.sqs.dead_letter import (
    ATTEMPT_ATTRIBUTE,
    REASON_ATTRIBUTE,
    dead_letter_entry,
)
from broadway_py.connectors.sqs.ledger import Received
from tests.broker_scripts import RABBITMQ_URL
from tests.integration.kafka.broker import (
    BOOTSTRAP,
    FAST_GROUP,
    GroupProbe,
    TopicProbe,
    create_topics,
)
from tests.integration.sqs.helpers import ENDPOINT, REGION

ROOT = Path(__file__).resolve().parents[1]
ENV = {k: v for k, v in os.environ.items() if k != "PORT"}
RABBITMQ_ATTEMPT_HEADER = RetryOptions.model_fields["attempt_header"].default
SQS_BATCH = 10  # SQS's most entries in one batch call
KINDS = ["kafka", "rabbitmq", "sqs"]  # the parametrisation ids of the dead-letter tests


class NotDeclared(LookupError):
    """The destination does not exist (yet): a pipeline declares it when it first needs it."""


class DeadLetterBroker(Protocol):
    """One broker's source and dead-letter destination, as the broker itself reports them."""

    name: str

    def producer(self) -> dict[str, Any]:
        """The pipeline file's ``producer:`` section."""
        ...

    async def create(self) -> None: ...

    async def publish(self, payloads: Sequence[bytes]) -> None:
        """Plain messages to the source."""
        ...

    async def seed_dead_letters(self, payloads: Sequence[bytes]) -> None:
        """Dead letters (reason ``poison``, 3 attempts), written by the connector's own code."""
        ...

    async def source_count(self) -> int: ...

    async def dead_letters(self) -> int:
        """Dead letters still in the destination, in flight or not."""
        ...

    async def visible_dead_letters(self) -> int:
        """Dead letters a reader can get now (SQS: not hidden by a receive)."""
        ...

    async def at_source(self) -> list[bytes]:
        """Every payload at the source (read, left in place)."""
        ...

    async def replayed(self) -> list[bytes]:
        """Sorted payloads a replay put back at the source; asserts none carries an attempt
        or reason (read, left in place)."""
        ...

    async def close(self) -> None: ...


def dead_letter_broker(kind: str, prefix: str, kafka_partitions: int = 1) -> DeadLetterBroker:
    """A broker of ``kind`` (kafka, rabbitmq, sqs) with names of its own starting ``prefix``."""
    if kind == "kafka":
        return Kafka(prefix, kafka_partitions)
    if kind == "rabbitmq":
        return RabbitMQ(prefix)
    if kind == "sqs":
        return Sqs(prefix)
    raise ValueError(f"no broker {kind!r}")


def write_pipeline(
    folder: Path, name: str, handler: str, handler_source: str, **sections: Any
) -> Path:
    """``FOLDER/NAME.yaml`` running ``HANDLER`` (``module:attribute``, the module's source
    written next to it) with ``SECTIONS`` (``producer`` among them)."""
    module = handler.split(":", 1)[0]
    (folder / f"{module}.py").write_text(handler_source)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, "handler": handler, **sections}, sort_keys=False))
    return path


async def start_cli(folder: Path, *arguments: str, stdout: int) -> asyncio.subprocess.Process:
    """``python -m broadway_py ARGUMENTS`` in ``folder`` (importable), stdin not a terminal."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "broadway_py",
        *arguments,
        cwd=folder,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=stdout,
        stderr=asyncio.subprocess.PIPE,
        env={**ENV, "PYTHONPATH": f"{folder}{os.pathsep}{ROOT}"},
    )


class Kafka:
    name = "kafka"

    def __init__(self, prefix: str, partitions: int = 1) -> None:
        self.topic = self.group = f"{prefix}-{uuid.uuid4().hex[:10]}"
        self.dlq = f"{self.group}.dlq"
        self.partitions = partitions
        self._probes: dict[str, TopicProbe] = {}

    def producer(self) -> dict[str, Any]:
        settings = {"bootstrap_servers": BOOTSTRAP, "topics": [self.topic], "group_id": self.group}
        return {"kafka": {**settings, **FAST_GROUP}}

    async def create(self) -> None:
        await create_topics([self.topic], self.partitions, BOOTSTRAP)

    async def _send(
        self, topic: str, records: Sequence[tuple[bytes, kafka_headers.Headers]]
    ) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, acks="all", linger_ms=5)
        await producer.start()
        try:
            sent = [await producer.send(topic, value, headers=list(h)) for value, h in records]
            await asyncio.gather(*sent)
        finally:
            await producer.stop()

    async def publish(self, payloads: Sequence[bytes]) -> None:
        await self._send(self.topic, [(payload, ()) for payload in payloads])

    async def seed_dead_letters(self, payloads: Sequence[bytes]) -> None:
        await create_topics([self.dlq], self.partitions, BOOTSTRAP)
        now = time.time()
        await self._send(
            self.dlq,
            [
                (
                    payload,
                    kafka_headers.dead_letter_headers(
                        (), self.topic, i % self.partitions, i, 3, "poison", now
                    ),
                )
                for i, payload in enumerate(payloads)
            ],
        )

    async def _probe(self, topic: str) -> TopicProbe:
        """One long-lived probe per topic: it keeps every record it fetched."""
        probe = self._probes.get(topic)
        if probe is None:
            probe = TopicProbe([topic], BOOTSTRAP)
            try:
                await probe.start()
            except AssertionError as error:  # the probe found no partitions
                raise NotDeclared(topic) from error
            self._probes[topic] = probe
        return probe

    async def _records(self, topic: str) -> list[Any]:
        """Every record of ``topic`` up to its end offsets now."""
        probe = await self._probe(topic)
        await probe.end_offsets()
        return probe.records[topic]

    async def source_count(self) -> int:
        return sum((await (await self._probe(self.topic)).end_offsets()).values())

    async def dead_letters(self) -> int:
        records = await self._records(self.dlq)
        group = GroupProbe(f"{self.dlq}-replay", BOOTSTRAP)
        await group.start()
        try:
            partitions = {TopicPartition(self.dlq, r.partition) for r in records}
            committed = await group.committed(sorted(partitions))
        finally:
            await group.stop()
        return sum(
            1 for r in records if r.offset >= committed[TopicPartition(self.dlq, r.partition)]
        )

    async def visible_dead_letters(self) -> int:
        return await self.dead_letters()

    async def at_source(self) -> list[bytes]:
        return [record.value for record in await self._records(self.topic)]

    async def replayed(self) -> list[bytes]:
        found: list[bytes] = []
        for record in await self._records(self.topic):
            headers = list(record.headers or ())
            if kafka_headers.find(headers, kafka_headers.ORIGINAL_TOPIC) is None:
                continue  # an original, never dead-lettered
            assert kafka_headers.find(headers, kafka_headers.ATTEMPT) is None
            assert kafka_headers.find(headers, kafka_headers.REASON) is None
            found.append(record.value)
        return sorted(found)

    async def close(self) -> None:
        for probe in self._probes.values():
            await probe.stop()


class RabbitMQ:
    name = "rabbitmq"

    def __init__(self, prefix: str) -> None:
        self.queue = f"{prefix}.{uuid.uuid4().hex[:10]}"
        self.dlq = f"{self.queue}.dlq"
        self.connection: Any = None

    def producer(self) -> dict[str, Any]:
        return {"rabbitmq": {"url": RABBITMQ_URL, "queue": self.queue}}

    async def _channel(self) -> Any:
        import aio_pika

        if self.connection is None:
            self.connection = await aio_pika.connect(RABBITMQ_URL)
        wrapper = await self.connection.channel(publisher_confirms=True)
        return await wrapper.get_underlay_channel()

    async def create(self) -> None:
        channel = await self._channel()
        await channel.queue_declare(self.queue, durable=True)
        await channel.close()

    async def _send(self, queue: str, messages: Sequence[tuple[bytes, Any]]) -> None:
        channel = await self._channel()
        try:
            await asyncio.gather(
                *(
                    channel.basic_publish(body, routing_key=queue, properties=properties)
                    for body, properties in messages
                )
            )
        finally:
            await channel.close()

    async def publish(self, payloads: Sequence[bytes]) -> None:
        from pamqp.commands import Basic

        persistent = Basic.Properties(delivery_mode=2)
        await self._send(self.queue, [(payload, persistent) for payload in payloads])

    async def seed_dead_letters(self, payloads: Sequence[bytes]) -> None:
        from pamqp.commands import Basic

        channel = await self._channel()
        await channel.queue_declare(self.dlq, durable=True)
        await channel.close()
        now = time.time()
        properties = [
            dead_letter_properties(
                Basic.Properties(message_id=payload.decode()),
                RABBITMQ_ATTEMPT_HEADER,
                reason="poison",
                attempts=3,
                source_queue=self.queue,
                now=now,
            )
            for payload in payloads
        ]
        await self._send(self.dlq, list(zip(payloads, properties, strict=True)))

    async def _count(self, queue: str) -> int:
        from aiormq.exceptions import ChannelNotFoundEntity

        channel = await self._channel()
        try:
            declared = await channel.queue_declare(queue, passive=True)
            return int(declared.message_count or 0)
        except ChannelNotFoundEntity as error:
            raise NotDeclared(queue) from error
        finally:
            if not channel.is_closed:
                await channel.close()

    async def source_count(self) -> int:
        return await self._count(self.queue)

    async def dead_letters(self) -> int:
        return await self._count(self.dlq)

    async def visible_dead_letters(self) -> int:
        return await self.dead_letters()  # message_count: ready ones only

    async def _get_source(self) -> list[tuple[bytes, dict[str, Any]]]:
        """(body, headers) of every message at the source, which all go back on close."""
        from pamqp.commands import Basic

        channel = await self._channel()
        found: list[tuple[bytes, dict[str, Any]]] = []
        try:
            while True:
                got = await channel.basic_get(self.queue, no_ack=False)
                if not isinstance(got.delivery, Basic.GetOk):
                    return found
                found.append((got.body, dict(got.header.properties.headers or {})))
        finally:
            await channel.close()

    async def at_source(self) -> list[bytes]:
        return [body for body, _ in await self._get_source()]

    async def replayed(self) -> list[bytes]:
        found = await self._get_source()
        for _, headers in found:
            assert ATTEMPTS_HEADER not in headers
            assert REASON_HEADER not in headers
            assert RABBITMQ_ATTEMPT_HEADER not in headers
        return sorted(body for body, _ in found)

    async def close(self) -> None:
        if self.connection is not None:
            channel = await self._channel()
            for queue in (self.queue, self.dlq):
                await channel.queue_delete(queue, if_unused=False, if_empty=False)
            await channel.close()
            await self.connection.close()


class Sqs:
    name = "sqs"

    def __init__(self, prefix: str) -> None:
        self.queue = f"{prefix}-{uuid.uuid4().hex[:10]}"
        self.dlq = f"{self.queue}-dlq"
        self.urls: dict[str, str] = {}
        self.stack = AsyncExitStack()
        self.client: Any = None
        self.read_back = False  # a read receives (so counts) what it reads

    def producer(self) -> dict[str, Any]:
        settings = {"queue_name": self.queue, "endpoint_url": ENDPOINT, "region": REGION}
        return {"sqs": {**settings, "wait_time_seconds": 1, "dead_letter": self.dlq}}

    async def create(self) -> None:
        from aiobotocore.session import get_session

        self.client = await self.stack.enter_async_context(
            get_session().create_client("sqs", region_name=REGION, endpoint_url=ENDPOINT)
        )
        for name in (self.queue, self.dlq):
            self.urls[name] = (await self.client.create_queue(QueueName=name))["QueueUrl"]

    async def _send(self, name: str, entries: Sequence[dict[str, Any]]) -> None:
        for start in range(0, len(entries), SQS_BATCH):
            sent = await self.client.send_message_batch(
                QueueUrl=self.urls[name], Entries=list(entries[start : start + SQS_BATCH])
            )
            assert not sent.get("Failed"), sent["Failed"]

    async def publish(self, payloads: Sequence[bytes]) -> None:
        entries = [{"Id": str(i), "MessageBody": p.decode()} for i, p in enumerate(payloads)]
        await self._send(self.queue, entries)

    async def seed_dead_letters(self, payloads: Sequence[bytes]) -> None:
        entries = [
            dead_letter_entry(
                str(i),
                Received(f"id-{i}", "", p.decode(), 0.0, attempt=3),
                "poison",
                self.queue,
                False,
            )
            for i, p in enumerate(payloads)
        ]
        await self._send(self.dlq, entries)

    async def _counts(self, name: str) -> tuple[int, int]:
        """(visible, not visible) in queue ``name``."""
        response = await self.client.get_queue_attributes(
            QueueUrl=self.urls[name],
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )
        attributes = response["Attributes"]
        return (
            int(attributes["ApproximateNumberOfMessages"]),
            int(attributes["ApproximateNumberOfMessagesNotVisible"]),
        )

    async def source_count(self) -> int:
        return sum(await self._counts(self.queue))

    async def dead_letters(self) -> int:
        return sum(await self._counts(self.dlq))

    async def visible_dead_letters(self) -> int:
        return (await self._counts(self.dlq))[0]

    async def _receive_source(self) -> list[dict[str, Any]]:
        """Every message at the source (once each), made visible again after."""
        found: dict[str, dict[str, Any]] = {}
        while True:
            response = await self.client.receive_message(
                QueueUrl=self.urls[self.queue],
                MaxNumberOfMessages=SQS_BATCH,
                VisibilityTimeout=120,
                MessageAttributeNames=["All"],
                AttributeNames=["All"],
            )
            messages = response.get("Messages") or []
            if not messages:
                break
            found.update((message["MessageId"], message) for message in messages)
        self.read_back = self.read_back or bool(found)
        held = list(found.values())
        for start in range(0, len(held), SQS_BATCH):
            entries = [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                for i, m in enumerate(held[start : start + SQS_BATCH])
            ]
            released = await self.client.change_message_visibility_batch(
                QueueUrl=self.urls[self.queue], Entries=entries
            )
            assert not released.get("Failed"), released["Failed"]
        return held

    async def at_source(self) -> list[bytes]:
        return [message["Body"].encode() for message in await self._receive_source()]

    async def replayed(self) -> list[bytes]:
        first_read = not self.read_back
        found = await self._receive_source()
        for message in found:
            attributes = message.get("MessageAttributes") or {}
            assert ATTEMPT_ATTRIBUTE not in attributes
            assert REASON_ATTRIBUTE not in attributes
            if first_read:  # a new message: its first receive is attempt 1
                assert message["Attributes"]["ApproximateReceiveCount"] == "1"
        return sorted(message["Body"].encode() for message in found)

    async def close(self) -> None:
        if self.client is not None:
            for url in self.urls.values():
                await self.client.delete_queue(QueueUrl=url)
        await self.stack.aclose()
