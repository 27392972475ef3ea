"""Operator commands on a file with several producers, against RabbitMQ and Kafka.

``provision`` provisions every producer; ``send`` and ``dlq`` work on the one
``--producer`` names, and refuse to guess when the file has several. Outcomes
are counted on the brokers. (The CLI helpers are test_provision.py's.)
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from tests.integration.kafka.broker import BOOTSTRAP, TopicProbe
from tests.integration.rabbitmq.support import URL as RABBITMQ_URL
from tests.integration.rabbitmq.support import Broker
from tests.integration.test_provision import broadway, unique

LINES = "".join(json.dumps({"order": index}) + "\n" for index in range(12)).encode()
FIRST_THREE = b"".join(LINES.splitlines(keepends=True)[:3])


def two_producers(folder: Path, queue: str, topic: str) -> str:
    (folder / "handlers.py").write_text("def handle(message):\n    return message\n")
    text = f"""\
        name: two-sources
        handler: handlers:handle
        producers:
          orders:
            rabbitmq:
              url: {RABBITMQ_URL}
              queue: {queue}
              declare: {{durable: true}}
          events:
            kafka: {{bootstrap_servers: {BOOTSTRAP}, topics: [{topic}], group_id: {topic}}}
        """
    (folder / "pipeline.yaml").write_text(textwrap.dedent(text))
    return "pipeline.yaml"


@pytest.mark.rabbitmq
@pytest.mark.kafka
async def test_provision_every_producer_and_send_to_the_one_named(tmp_path: Path) -> None:
    broker = await Broker.connect()
    try:
        queue, topic = broker.name("two"), unique("two-events")
        file = two_producers(tmp_path, queue, topic)

        code, out, err = broadway(tmp_path, "provision", file)
        assert code == 0, err
        assert "producer orders (rabbitmq):" in out
        assert "producer events (kafka):" in out
        created = [line for line in out.splitlines() if line.startswith("created: ")]
        assert any(queue in line for line in created), out
        assert any(topic in line for line in created), out

        code, out, err = broadway(tmp_path, "send", file, stdin=LINES)
        assert code != 0
        assert "2 producers (orders, events): name one" in err
        code, out, err = broadway(tmp_path, "send", file, "--producer", "nope", stdin=LINES)
        assert code != 0
        assert "no producer 'nope' (the file has orders, events)" in err

        code, out, err = broadway(tmp_path, "send", file, "--producer", "events", stdin=LINES)
        assert (code, out, err) == (0, "sent 12, confirmed 12\n", "")
        code, out, err = broadway(tmp_path, "send", file, "--producer", "orders", stdin=FIRST_THREE)
        assert code == 0, err

        probe = TopicProbe([topic])
        await probe.start()
        try:
            ends = await probe.end_offsets()
        finally:
            await probe.stop()
        assert sum(ends.values()) == 12  # every line on Kafka, none lost, none twice
        on_queue = await broker.read(queue)
        assert on_queue == [json.dumps({"order": index}).encode() for index in range(3)]

        code, out, err = broadway(tmp_path, "dlq", file, "list", "--producer", "orders")
        assert code == 0, err
        assert f"0 dead letters in RabbitMQ queue '{queue}.dlq'" in out
        code, out, err = broadway(tmp_path, "dlq", file, "list", "--producer", "events")
        assert code == 0, err
        assert f"0 dead letters in Kafka topic '{topic}.dlq'" in out
        code, out, err = broadway(tmp_path, "dlq", file, "list")
        assert code != 0
        assert "name one" in err
    finally:
        await broker.cleanup()
