"""``broadway-py dlq`` on each real broker, through the CLI in a subprocess.

A real pipeline (``broadway-py run``) dead-letters six messages, three with a
``poison`` reason and three with an ``other`` one; then, with the pipeline
stopped: ``list`` shows all six and the broker still holds six, ``show``
prints one, ``replay --dry-run`` changes nothing, ``replay --reason poison``
puts the three poison ones back at the source with their attempt reset (read
back from the broker) and leaves the other three, ``purge`` without ``--yes``
off a terminal is refused and ``purge --yes`` empties the destination.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from broadway_py.connectors.kafka import headers as kafka_headers
from broadway_py.connectors.rabbitmq.copies import ATTEMPTS_HEADER, REASON_HEADER
from broadway_py.connectors.sqs.dead_letter import ATTEMPT_ATTRIBUTE, REASON_ATTRIBUTE
from tests.ports import free_port
from tests.support import wait_until

ROOT = Path(__file__).resolve().parents[2]
ENV = {k: v for k, v in os.environ.items() if k != "PORT"}
KAFKA = os.environ.get("BROADWAY_KAFKA_BOOTSTRAP", "127.0.0.1:39092")
RABBITMQ = os.environ.get("BROADWAY_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:35672/")
SQS = os.environ.get("BROADWAY_SQS_ENDPOINT", "http://127.0.0.1:35000")
REGION = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")

HANDLER = """
from broadway_py import Handler


class Poison(Handler):
    def handle_message(self, message):
        data = bytes(message.data) if not isinstance(message.data, str) else message.data.encode()
        if data.startswith(b"poison"):
            raise ValueError("poison: cannot parse " + data.decode())
        raise KeyError("other failure")
"""

POISON = [f"poison-{i}".encode() for i in range(3)]
OTHER = [f"other-{i}".encode() for i in range(3)]


async def cli(folder: Path, *arguments: str, timeout: float = 90) -> tuple[int, str, str]:
    """``python -m broadway_py ARGUMENTS``, stdin not a terminal: (exit code, stdout, stderr)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "broadway_py",
        *arguments,
        cwd=folder,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**ENV, "PYTHONPATH": f"{folder}{os.pathsep}{ROOT}"},
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


class Harness:
    """One broker: its pipeline file section, and counting on the broker itself."""

    name = ""

    def producer_yaml(self) -> str:
        raise NotImplementedError

    async def setup(self) -> None: ...
    async def publish(self, payloads: list[bytes]) -> None: ...
    async def dead_letters(self) -> int:
        """Dead letters still in the destination, as the broker says."""
        raise NotImplementedError

    async def replayed(self) -> list[bytes]:
        """Payloads back at the source with no attempt / reason carried (read, not consumed)."""
        raise NotImplementedError

    async def cleanup(self) -> None: ...


class KafkaHarness(Harness):
    name = "kafka"

    def __init__(self) -> None:
        suffix = uuid.uuid4().hex[:10]
        self.topic = f"dlq-it-{suffix}"
        self.group = f"dlq-it-{suffix}"
        self.dlq = f"{self.group}.dlq"

    def producer_yaml(self) -> str:
        return f"""
          kafka:
            bootstrap_servers: {KAFKA}
            topics: [{self.topic}]
            group_id: {self.group}
            session_timeout_ms: 2000
            heartbeat_interval_ms: 500
            rebalance_timeout_ms: 3000
            revoke_timeout: 1.5
            commit_interval: 0.2
        """

    async def setup(self) -> None:
        from tests.integration.kafka.broker import create_topics

        await create_topics([self.topic], 1, KAFKA)

    async def publish(self, payloads: list[bytes]) -> None:
        from tests.integration.kafka.broker import publish

        await publish(self.topic, payloads, bootstrap=KAFKA)

    async def _records(self, topic: str) -> list[Any]:
        from tests.integration.kafka.broker import TopicProbe

        probe = TopicProbe([topic], KAFKA)
        await probe.start()
        try:
            await probe.end_offsets()
            return probe.records[topic]
        finally:
            await probe.stop()

    async def dead_letters(self) -> int:
        from aiokafka import TopicPartition

        from tests.integration.kafka.broker import GroupProbe

        try:
            records = await self._records(self.dlq)
        except AssertionError:
            return 0  # not created yet
        group = GroupProbe(f"{self.dlq}-replay", KAFKA)
        await group.start()
        try:
            committed = await group.committed([TopicPartition(self.dlq, 0)])
        finally:
            await group.stop()
        return sum(1 for r in records if r.offset >= committed[TopicPartition(self.dlq, 0)])

    async def replayed(self) -> list[bytes]:
        found = []
        for record in await self._records(self.topic):
            headers = list(record.headers or ())
            carried = kafka_headers.find(headers, kafka_headers.ORIGINAL_TOPIC)
            if carried is None:
                continue  # an original, never dead-lettered
            assert kafka_headers.find(headers, kafka_headers.ATTEMPT) is None
            assert kafka_headers.find(headers, kafka_headers.REASON) is None
            found.append(record.value)
        return sorted(found)


class RabbitMQHarness(Harness):
    name = "rabbitmq"

    def __init__(self) -> None:
        self.queue = f"dlq-it.{uuid.uuid4().hex[:10]}"
        self.dlq = f"{self.queue}.dlq"
        self.connection: Any = None

    def producer_yaml(self) -> str:
        return f"""
          rabbitmq:
            url: {RABBITMQ}
            queue: {self.queue}
        """

    async def _channel(self) -> Any:
        import aio_pika

        if self.connection is None:
            self.connection = await aio_pika.connect(RABBITMQ)
        wrapper = await self.connection.channel(publisher_confirms=True)
        return await wrapper.get_underlay_channel()

    async def setup(self) -> None:
        channel = await self._channel()
        await channel.queue_declare(self.queue, durable=True)
        await channel.close()

    async def publish(self, payloads: list[bytes]) -> None:
        from pamqp.commands import Basic

        channel = await self._channel()
        for payload in payloads:
            await channel.basic_publish(
                payload, routing_key=self.queue, properties=Basic.Properties(delivery_mode=2)
            )
        await channel.close()

    async def _count(self, queue: str) -> int:
        channel = await self._channel()
        try:
            declared = await channel.queue_declare(queue, passive=True)
            return int(declared.message_count or 0)
        except Exception:
            return 0
        finally:
            if not channel.is_closed:
                await channel.close()

    async def dead_letters(self) -> int:
        return await self._count(self.dlq)

    async def replayed(self) -> list[bytes]:
        from pamqp.commands import Basic

        channel = await self._channel()
        found = []
        try:
            while True:
                got = await channel.basic_get(self.queue, no_ack=False)
                if not isinstance(got.delivery, Basic.GetOk):
                    break
                headers = got.header.properties.headers or {}
                assert ATTEMPTS_HEADER not in headers
                assert REASON_HEADER not in headers
                assert "x-broadway-attempt" not in headers
                found.append(got.body)
        finally:
            await channel.close()  # every message goes back
        return sorted(found)

    async def cleanup(self) -> None:
        if self.connection is not None:
            channel = await self._channel()
            for queue in (self.queue, self.dlq):
                await channel.queue_delete(queue, if_unused=False, if_empty=False)
            await channel.close()
            await self.connection.close()


class SqsHarness(Harness):
    name = "sqs"

    def __init__(self) -> None:
        self.queue = f"dlq-it-{uuid.uuid4().hex[:10]}"
        self.dlq = f"{self.queue}-dlq"
        self.urls: dict[str, str] = {}
        self._stack: Any = None
        self.client: Any = None
        self.read_back = False  # replayed() receives (so counts) what it reads

    def producer_yaml(self) -> str:
        return f"""
          sqs:
            queue_name: {self.queue}
            endpoint_url: {SQS}
            region: {REGION}
            wait_time_seconds: 1
            dead_letter: {self.dlq}
        """

    async def setup(self) -> None:
        from contextlib import AsyncExitStack

        from aiobotocore.session import get_session

        self._stack = AsyncExitStack()
        self.client = await self._stack.enter_async_context(
            get_session().create_client("sqs", region_name=REGION, endpoint_url=SQS)
        )
        for name in (self.queue, self.dlq):
            made = await self.client.create_queue(QueueName=name)
            self.urls[name] = made["QueueUrl"]

    async def publish(self, payloads: list[bytes]) -> None:
        for payload in payloads:
            await self.client.send_message(
                QueueUrl=self.urls[self.queue], MessageBody=payload.decode()
            )

    async def _visible(self, name: str) -> int:
        response = await self.client.get_queue_attributes(
            QueueUrl=self.urls[name], AttributeNames=["ApproximateNumberOfMessages"]
        )
        return int(response["Attributes"]["ApproximateNumberOfMessages"])

    async def dead_letters(self) -> int:
        return await self._visible(self.dlq)  # visible: a list must have released them

    async def replayed(self) -> list[bytes]:
        found: dict[str, bytes] = {}
        receipts = []
        while True:
            response = await self.client.receive_message(
                QueueUrl=self.urls[self.queue],
                MaxNumberOfMessages=10,
                VisibilityTimeout=30,
                MessageAttributeNames=["All"],
                AttributeNames=["All"],
            )
            messages = response.get("Messages") or []
            if not messages:
                break
            for message in messages:
                attributes = message.get("MessageAttributes") or {}
                assert ATTEMPT_ATTRIBUTE not in attributes
                assert REASON_ATTRIBUTE not in attributes
                if not self.read_back:  # a new message: its first receive is attempt 1
                    assert message["Attributes"]["ApproximateReceiveCount"] == "1"
                found[message["MessageId"]] = message["Body"].encode()
                receipts.append(message["ReceiptHandle"])
        self.read_back = self.read_back or bool(found)
        for receipt in receipts:
            await self.client.change_message_visibility(
                QueueUrl=self.urls[self.queue], ReceiptHandle=receipt, VisibilityTimeout=0
            )
        return sorted(found.values())

    async def cleanup(self) -> None:
        if self.client is not None:
            for url in self.urls.values():
                await self.client.delete_queue(QueueUrl=url)
            await self._stack.aclose()


@pytest.fixture(params=["kafka", "rabbitmq", "sqs"])
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    made: Harness = {"kafka": KafkaHarness, "rabbitmq": RabbitMQHarness, "sqs": SqsHarness}[
        request.param
    ]()
    await made.setup()
    try:
        yield made
    finally:
        await made.cleanup()


def pipeline_file(folder: Path, harness: Harness) -> Path:
    (folder / "dlq_handlers.py").write_text(HANDLER)
    path = folder / f"{harness.name}.yaml"
    producer = textwrap.indent(textwrap.dedent(harness.producer_yaml()).strip(), "  ")
    path.write_text(
        f"name: dlq-{harness.name}\n"
        "handler: dlq_handlers:Poison\n"
        f"producer:\n{producer}\n"
        "processors:\n  concurrency: 2\n  max_demand: 10\n"
        "retry:\n  max_attempts: 1\n"
        "shutdown:\n  drain_timeout: 10\n"
    )
    return path


async def dead_letter_six(folder: Path, harness: Harness, file: Path) -> None:
    """Run the pipeline until six messages are dead-lettered, then stop it (SIGTERM)."""
    await harness.publish(POISON + OTHER)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "broadway_py", "run", str(file), "--http-port", str(free_port()),
        cwd=folder, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE, env={**ENV, "PYTHONPATH": f"{folder}{os.pathsep}{ROOT}"},
    )  # fmt: skip
    try:
        await wait_until(
            lambda: _is(harness.dead_letters(), 6), 60, "six dead letters", interval=0.3
        )
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, err.decode()[-2000:]


async def _is(count: Any, expected: int) -> bool:
    return bool(await count == expected)


def listed_ids(out: str) -> list[str]:
    lines = out.strip().splitlines()
    assert lines[0].startswith("ID"), out
    assert "REASON" in lines[0], out
    return [line.split()[0] for line in lines[1:-1]]


async def test_dlq_list_show_replay_purge(tmp_path: Path, harness: Harness) -> None:
    file = pipeline_file(tmp_path, harness)
    await dead_letter_six(tmp_path, harness, file)

    code, out, err = await cli(tmp_path, "dlq", str(file), "list")
    assert code == 0, err
    ids = listed_ids(out)
    assert len(ids) == 6, out
    assert out.count("poison: cannot parse") == 3, out
    assert out.count("other failure") == 3, out
    assert "6 dead letters in" in out
    assert await harness.dead_letters() == 6  # listing consumed nothing

    code, out, err = await cli(tmp_path, "dlq", str(file), "list", "--limit", "2", "--payload")
    assert code == 0, err
    assert len(listed_ids(out.split("\npayload ")[0] + "\nend")) == 2, out
    assert out.count("payload ") == 2, out
    assert "limit" in out, out
    assert await harness.dead_letters() == 6

    code, out, err = await cli(tmp_path, "dlq", str(file), "list")
    poison_id = next(line.split()[0] for line in out.splitlines() if "poison: cannot parse" in line)
    code, out, err = await cli(tmp_path, "dlq", str(file), "show", poison_id, "--payload")
    assert code == 0, err
    assert f"id: {poison_id}" in out, out
    assert "attempts: 1" in out, out
    assert "poison-" in out, out
    assert "dead-lettered: " in out, out
    assert "source: " in out, out

    code, out, err = await cli(tmp_path, "dlq", str(file), "show", "no-such-id")
    assert code == 1, out
    assert "no dead letter" in out, out

    code, out, err = await cli(
        tmp_path, "dlq", str(file), "replay", "--reason", "poison", "--dry-run"
    )
    assert code == 0, err
    assert "would replay 3 of the 6" in out, out
    assert out.count("would replay ") == 4, out
    assert await harness.dead_letters() == 6
    assert await harness.replayed() == []

    code, out, err = await cli(tmp_path, "dlq", str(file), "replay", "--reason", "poison")
    assert code == 0, err
    assert "replayed 3 dead letters" in out, out
    assert await harness.replayed() == sorted(POISON)  # at the source, attempt reset
    assert await harness.dead_letters() == 3

    code, out, err = await cli(tmp_path, "dlq", str(file), "list")
    assert code == 0, out
    assert "poison" not in out, out
    assert out.count("other failure") == 3, out

    code, out, err = await cli(tmp_path, "dlq", str(file), "purge")
    assert code == 2, err
    assert "--yes" in err, err
    assert await harness.dead_letters() == 3

    code, out, err = await cli(tmp_path, "dlq", str(file), "purge", "--yes")
    assert code == 0, (out, err)
    assert "purged 3 dead letters" in out, (out, err)
    await wait_until(lambda: _is(harness.dead_letters(), 0), 10, "an empty destination")
    code, out, err = await cli(tmp_path, "dlq", str(file), "list")
    assert code == 0, out
    assert "0 dead letters in" in out, out
    assert await harness.replayed() == sorted(POISON)  # purge left the source alone


async def test_dlq_on_memory_says_there_is_no_destination(tmp_path: Path) -> None:
    code, out, err = await cli(ROOT, "dlq", str(ROOT / "config" / "memory.yaml"), "list")
    assert code == 1, (out, err)
    assert "no dead-letter destination outside the process" in err
    assert "Traceback" not in err
