"""``broadway-py send`` in a subprocess, against each real broker.

Lines of standard input become messages on the pipeline's source: every one
is counted there, read back with its body, key and headers where the broker
has them. (The CLI helpers are test_provision.py's.)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aiobotocore.session import get_session  # type: ignore[import-untyped, unused-ignore]

from tests.integration.kafka.broker import BOOTSTRAP, TopicProbe, create_topics
from tests.integration.rabbitmq.support import URL as RABBITMQ_URL
from tests.integration.rabbitmq.support import Broker
from tests.integration.sqs.helpers import ENDPOINT, REGION
from tests.integration.test_provision import aws_keys, broadway, pipeline_file, unique

COUNT = 25
LINES = [json.dumps({"id": index, "text": f"order {index}"}) for index in range(COUNT)]
STDIN = ("\n".join(LINES[:10]) + "\n\n" + "\n".join(LINES[10:]) + "\n").encode()
"""COUNT JSON lines with a blank line among them (skipped)."""


@pytest.mark.kafka
async def test_kafka_key_and_headers(tmp_path: Path) -> None:
    topic = unique("send-orders")
    await create_topics([topic], 3)
    file = pipeline_file(
        tmp_path,
        f"  kafka: {{bootstrap_servers: {BOOTSTRAP}, topics: [{topic}], group_id: {topic}}}",
    )
    code, out, err = broadway(
        tmp_path, "send", file, "--key", "customer-7", "--header", "source=test",
        "--header", "trace=a=b", stdin=STDIN,
    )  # fmt: skip
    assert (code, out, err) == (0, f"sent {COUNT}, confirmed {COUNT}\n", "")
    probe = TopicProbe([topic])
    await probe.start()
    try:
        await probe.end_offsets()
    finally:
        await probe.stop()
    records = probe.records[topic]
    assert sorted(r.value.decode() for r in records) == sorted(LINES)
    assert {r.key for r in records} == {b"customer-7"}
    assert len({r.partition for r in records}) == 1  # one key, one partition
    assert {tuple(r.headers) for r in records} == {(("source", b"test"), ("trace", b"a=b"))}


@pytest.mark.sqs
async def test_sqs_fifo_group_and_attributes(tmp_path: Path) -> None:
    queue = unique("send") + ".fifo"
    file = pipeline_file(
        tmp_path, f"  sqs: {{queue_name: {queue}, endpoint_url: {ENDPOINT}, region: {REGION}}}"
    )
    async with get_session().create_client(
        "sqs", region_name=REGION, endpoint_url=ENDPOINT, **aws_keys()
    ) as client:
        made = await client.create_queue(QueueName=queue, Attributes={"FifoQueue": "true"})
        url = made["QueueUrl"]
        try:
            code, out, err = broadway(
                tmp_path, "send", file, "--key", "g1", "--header", "source=test", stdin=STDIN
            )
            assert (code, out, err) == (0, f"sent {COUNT}, confirmed {COUNT}\n", "")
            attributes = await client.get_queue_attributes(
                QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
            )
            assert attributes["Attributes"]["ApproximateNumberOfMessages"] == str(COUNT)
            received = await client.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=10,
                AttributeNames=["MessageGroupId"],
                MessageAttributeNames=["All"],
            )
            messages = received["Messages"]
            assert [m["Body"] for m in messages] == LINES[: len(messages)]  # FIFO: in order
            assert {m["Attributes"]["MessageGroupId"] for m in messages} == {"g1"}
            assert {m["MessageAttributes"]["source"]["StringValue"] for m in messages} == {"test"}
        finally:
            await client.delete_queue(QueueUrl=url)


@pytest.mark.sqs
async def test_sqs_standard_queue_takes_no_key(tmp_path: Path) -> None:
    queue = unique("send")
    file = pipeline_file(
        tmp_path, f"  sqs: {{queue_name: {queue}, endpoint_url: {ENDPOINT}, region: {REGION}}}"
    )
    async with get_session().create_client(
        "sqs", region_name=REGION, endpoint_url=ENDPOINT, **aws_keys()
    ) as client:
        url = (await client.create_queue(QueueName=queue))["QueueUrl"]
        try:
            code, _out, err = broadway(tmp_path, "send", file, "--key", "k", stdin=STDIN)
            assert code == 1
            assert "is a standard queue" in err
            assert f"sent {COUNT}, confirmed 0" in err
            attributes = await client.get_queue_attributes(
                QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
            )
            assert attributes["Attributes"]["ApproximateNumberOfMessages"] == "0"
        finally:
            await client.delete_queue(QueueUrl=url)


@pytest.mark.rabbitmq
async def test_rabbitmq_raw_lines_headers_and_routing_key(tmp_path: Path) -> None:
    broker = await Broker.connect()
    try:
        queue = broker.name("send")
        exchange = unique("send-events")
        file = pipeline_file(
            tmp_path,
            f"""  rabbitmq:
    url: {RABBITMQ_URL}
    queue: {queue}
    declare: {{durable: true}}
    bindings: [{{exchange: {exchange}, exchange_type: topic, routing_keys: [order.*]}}]""",
        )
        code, out, err = broadway(tmp_path, "provision", file)
        assert code == 0, err
        raw = b"not json\nplain \xe2\x9c\x93 text\n"
        code, out, err = broadway(
            tmp_path, "send", file, "--raw", "--header", "source=test", stdin=raw
        )
        assert (code, out, err) == (0, "sent 2, confirmed 2\n", "")
        code, out, err = broadway(tmp_path, "send", file, "--key", "order.new", stdin=STDIN)
        assert (code, out, err) == (0, f"sent {COUNT}, confirmed {COUNT}\n", "")
        code, out, err = broadway(tmp_path, "send", file, "--key", "nobody.binds", stdin=STDIN)
        assert code == 1
        assert "NO_ROUTE" in err

        got = await broker.get_all(queue)
        bodies = [m.body for m in got]
        assert bodies[:2] == [b"not json", "plain ✓ text".encode()]
        assert sorted(b.decode() for b in bodies[2:]) == sorted(LINES)
        assert got[0].header.properties.headers == {"source": "test"}
        assert {m.routing_key for m in got[2:]} == {"order.new"}
        assert {m.delivery.exchange for m in got[2:]} == {exchange}
        channel = await broker.connection.channel()
        await channel.exchange_delete(exchange)
    finally:
        await broker.cleanup()


@pytest.mark.rabbitmq
async def test_a_line_that_is_not_json_is_refused_with_its_number(tmp_path: Path) -> None:
    broker = await Broker.connect()
    try:
        queue = broker.name("send")
        await broker.declare(queue)
        file = pipeline_file(tmp_path, f"  rabbitmq: {{url: {RABBITMQ_URL}, queue: {queue}}}")
        code, _out, err = broadway(
            tmp_path, "send", file, stdin=b'[1]\n{"a": 2}\nhunter2 plain text\n'
        )
        assert code == 1
        assert "line 3 is not JSON" in err
        assert "sent 0, confirmed 0" in err
        assert "hunter2" not in err  # the line itself is never printed
        assert await broker.get_all(queue) == []  # its batch was not sent
    finally:
        await broker.cleanup()


def test_memory_has_no_broker_to_send_to(tmp_path: Path) -> None:
    file = pipeline_file(tmp_path, "  memory: {queue: orders}")
    code, out, err = broadway(tmp_path, "send", file, stdin=b"[1]\n")
    assert (code, out) == (1, "")
    assert "memory producer has no broker to send to" in err
