"""``broadway-py provision`` in a subprocess, against each real broker.

On an empty broker it creates what the pipeline reads and writes; run again it
finds everything already there and changes nothing; a pipeline file that asks
for something else than what exists gets a MISMATCH line and exit 1, and the
broker keeps what it had. (``broadway-py send`` is in test_send.py.)
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import aio_pika
import pytest
from aiobotocore.session import get_session  # type: ignore[import-untyped, unused-ignore]
from aiokafka.admin import AIOKafkaAdminClient
from aiormq import exceptions as amqp

from tests.integration.kafka.broker import BOOTSTRAP
from tests.integration.rabbitmq.support import URL as RABBITMQ_URL
from tests.integration.sqs.helpers import ENDPOINT, REGION
from tests.support import wait_until

ROOT = Path(__file__).resolve().parents[2]
AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
ENV = {**AWS, **os.environ, "AWS_DEFAULT_REGION": REGION, "PYTHONPATH": str(ROOT)}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def broadway(folder: Path, *arguments: str, stdin: bytes = b"") -> tuple[int, str, str]:
    """``python -m broadway_py ARGUMENTS`` in ``folder``: (exit code, stdout, stderr)."""
    done = subprocess.run(
        [sys.executable, "-m", "broadway_py", *arguments],
        cwd=folder,
        input=stdin,
        capture_output=True,
        env=ENV,
        timeout=60,
    )
    return done.returncode, done.stdout.decode(), done.stderr.decode()


def pipeline_file(folder: Path, producer: str, extra: str = "") -> str:
    """A pipeline file in ``folder`` (with its handler module) on ``producer``; its name."""
    (folder / "handlers.py").write_text("def handle(message):\n    return message\n")
    text = f"name: provisioned\nhandler: handlers:handle\nproducer:\n{producer}\n{extra}"
    (folder / "pipeline.yaml").write_text(textwrap.dedent(text))
    return "pipeline.yaml"


def lines_of(out: str, word: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith(f"{word}: ")]


@pytest.mark.kafka
async def test_kafka_topics(tmp_path: Path) -> None:
    source, group = unique("prov-orders"), unique("prov-group")
    file = pipeline_file(
        tmp_path,
        f"""  kafka:
    bootstrap_servers: {BOOTSTRAP}
    topics: [{source}]
    group_id: {group}
    topic_partitions: 2
    topic_configs: {{retention.ms: 3600000}}""",
    )
    wanted = {source: 2, f"{group}.retry": 2, f"{group}.dlq": 2}

    code, out, err = broadway(tmp_path, "provision", file)
    assert code == 0, err
    assert lines_of(out, "created") == [
        f"created: topic {name!r} (2 partitions)" for name in wanted
    ]
    assert await kafka_partitions(list(wanted)) == wanted

    code, out, err = broadway(tmp_path, "provision", file)
    assert code == 0, err
    assert lines_of(out, "created") == []
    assert len(lines_of(out, "already there")) == 3

    code, out, err = broadway(
        tmp_path, "provision", file, "--set", "producer.kafka.topic_partitions=3"
    )
    assert code == 1
    assert f"MISMATCH: topic {source!r} (2 partitions, 3 asked)" in out
    assert "3 mismatches (left unchanged)" in err
    assert await kafka_partitions(list(wanted)) == wanted


async def kafka_partitions(topics: list[str]) -> dict[str, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    return {t["topic"]: len(t["partitions"]) for t in described if not t["error_code"]}


@pytest.mark.sqs
async def test_sqs_queues(tmp_path: Path) -> None:
    base = unique("prov")
    source, dead, redrive = f"{base}.fifo", f"{base}-dlq.fifo", f"{base}-redrive.fifo"
    file = pipeline_file(
        tmp_path,
        f"""  sqs:
    queue_name: {source}
    endpoint_url: {ENDPOINT}
    region: {REGION}
    queue_attributes: {{VisibilityTimeout: 45, ContentBasedDeduplication: true}}
    redrive: {{queue: {redrive}, max_receive_count: 4}}""",
        f"dead_letter:\n  destination: {dead}\n",
    )
    async with get_session().create_client(
        "sqs", region_name=REGION, endpoint_url=ENDPOINT, **aws_keys()
    ) as client:
        try:
            code, out, err = broadway(tmp_path, "provision", file)
            assert code == 0, err
            assert [line.split("'")[1] for line in lines_of(out, "created")] == [
                dead,
                redrive,
                source,
            ]
            attributes = await sqs_attributes(client, source)
            assert attributes["FifoQueue"] == "true"
            assert attributes["VisibilityTimeout"] == "45"
            assert attributes["ContentBasedDeduplication"] == "true"
            policy = json.loads(attributes["RedrivePolicy"])
            assert policy["deadLetterTargetArn"].endswith(f":{redrive}")
            assert int(policy["maxReceiveCount"]) == 4
            assert (await sqs_attributes(client, dead))["FifoQueue"] == "true"

            code, out, err = broadway(tmp_path, "provision", file)
            assert code == 0, err
            assert lines_of(out, "created") == []
            assert len(lines_of(out, "already there")) == 3

            code, out, err = broadway(
                tmp_path,
                "provision",
                file,
                "--set",
                "producer.sqs.queue_attributes.VisibilityTimeout=60",
            )
            assert code == 1
            assert f"MISMATCH: queue {source!r} (VisibilityTimeout is 45, 60 asked)" in out
            assert (await sqs_attributes(client, source))["VisibilityTimeout"] == "45"
        finally:
            for name in (source, dead, redrive):
                try:
                    url = (await client.get_queue_url(QueueName=name))["QueueUrl"]
                except Exception:  # not made: nothing to delete
                    continue
                await client.delete_queue(QueueUrl=url)


def aws_keys() -> dict[str, str]:
    return {
        "aws_access_key_id": ENV["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": ENV["AWS_SECRET_ACCESS_KEY"],
    }


async def sqs_attributes(client: Any, name: str) -> dict[str, str]:
    url = (await client.get_queue_url(QueueName=name))["QueueUrl"]
    response = await client.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
    return dict(response["Attributes"])


@pytest.mark.rabbitmq
async def test_rabbitmq_queues_exchange_and_binding(tmp_path: Path) -> None:
    queue, exchange = unique("prov"), unique("prov-events")
    file = pipeline_file(
        tmp_path,
        f"""  rabbitmq:
    url: {RABBITMQ_URL}
    queue: {queue}
    declare: {{arguments: {{x-queue-type: quorum}}}}
    bindings: [{{exchange: {exchange}, exchange_type: topic, routing_keys: [order.*]}}]""",
        "retry:\n  max_attempts: 3\n  min_delay: 1\n  max_delay: 2\n",
    )
    delays = [f"{queue}.delay.1024ms", f"{queue}.delay.2048ms"]
    queues = [queue, *delays, f"{queue}.dlq"]
    connection = await aio_pika.connect(RABBITMQ_URL)
    try:
        code, out, err = broadway(tmp_path, "provision", file)
        assert code == 0, err
        assert [line.split("'")[1] for line in lines_of(out, "created")] == [exchange, *queues]
        assert lines_of(out, "ensured") == [
            f"ensured: binding {queue!r} (from {exchange!r}, key 'order.*')"
        ]
        channel = await connection.channel()
        published = await channel.get_exchange(exchange)
        await published.publish(aio_pika.Message(b"routed"), "order.new")
        assert (await passive(connection, queue)).message_count == 1  # bound
        assert (await passive(connection, delays[0])) is not None

        code, out, err = broadway(tmp_path, "provision", file)
        assert code == 0, err
        assert lines_of(out, "created") == []
        assert len(lines_of(out, "already there")) == 1 + len(queues)

        code, out, err = broadway(
            tmp_path,
            "provision",
            file,
            "--set",
            "producer.rabbitmq.declare.arguments.x-queue-type=classic",
        )
        assert code == 1
        mismatch = lines_of(out, "MISMATCH")
        assert len(mismatch) == 1
        assert "inequivalent arg 'x-queue-type'" in mismatch[0]
        assert (await passive(connection, queue)).message_count == 1  # left as it was
    finally:
        channel = await connection.channel()
        for name in queues:
            await channel.queue_delete(name, if_unused=False, if_empty=False)
        await channel.exchange_delete(exchange)
        await connection.close()


async def passive(connection: Any, queue: str) -> Any:
    """A raw passive queue.declare (aio-pika's own caches its message count)."""
    wrapper = await connection.channel()
    channel = await wrapper.get_underlay_channel()
    try:
        return await channel.queue_declare(queue, passive=True)
    except amqp.ChannelNotFoundEntity:
        return None
    finally:
        await wrapper.close()


def test_memory_has_nothing_to_provision(tmp_path: Path) -> None:
    file = pipeline_file(tmp_path, "  memory: {queue: orders}")
    code, out, err = broadway(tmp_path, "provision", file)
    assert (code, out, err) == (0, "memory producer: nothing to provision\n", "")


@pytest.mark.rabbitmq
async def test_provision_at_start(tmp_path: Path) -> None:
    """``producer.provision: true``: ``run`` creates a missing queue, and refuses a mismatch."""
    queue = unique("prov-start")
    producer = f"""  provision: true
  rabbitmq:
    url: {RABBITMQ_URL}
    queue: {queue}
    declare: {{arguments: {{x-queue-type: quorum}}}}"""
    file = pipeline_file(tmp_path, producer, "http: {port: 0}\n")
    connection = await aio_pika.connect(RABBITMQ_URL)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "broadway_py",
        "run",
        file,
        cwd=tmp_path,
        env=ENV,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await wait_until(
            lambda: consumed(connection, queue), 30, "the run to create and consume the queue"
        )
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 30)
        assert process.returncode == 0
        assert f"created: queue {queue!r}" in stderr.decode()  # logged at INFO

        classic = "producer.rabbitmq.declare.arguments.x-queue-type=classic"
        code, _, err = broadway(tmp_path, "run", file, "--set", classic)
        assert code == 1
        assert f"broadway-py: provision: MISMATCH: queue {queue!r}" in err
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        channel = await connection.channel()
        for name in (queue, f"{queue}.dlq"):
            await channel.queue_delete(name, if_unused=False, if_empty=False)
        await connection.close()


async def consumed(connection: Any, queue: str) -> bool:
    declared = await passive(connection, queue)
    return declared is not None and declared.consumer_count > 0
