"""On the real broker: the connector's consumer fetches lean, and lean and plain fetches agree.

If an aiokafka upgrade changed the internals the lean fetch relies on, it
would quietly fall back to the plain path (correct, slower): the first test
fails then, so that the upgrade is looked at.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from broadway_py.acknowledger import NOOP_ACKNOWLEDGER
from broadway_py.connectors.kafka import lean_fetch
from broadway_py.connectors.kafka.connection import connect
from broadway_py.connectors.kafka.offsets import PartitionOffsets
from broadway_py.connectors.kafka.records import to_messages
from tests.integration.kafka.broker import BOOTSTRAP, create_topics, kafka_options, unique

pytestmark = pytest.mark.kafka

COUNT = 60


async def test_the_connectors_consumer_fetches_lean() -> None:
    topic = unique("lean")
    await create_topics([topic], 1)
    connection = await connect(kafka_options(topic, unique("lean-group")), listener=None)
    try:
        assert type(connection.consumer._fetcher._records) is lean_fetch._LeanRuns
    finally:
        await connection.close(5)


async def _fill(topic: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, compression_type="gzip", acks="all")
    await producer.start()
    try:
        for i in range(COUNT):
            await producer.send(
                topic,
                None if i % 7 == 1 else b"v%d" % i,  # a tombstone now and then, keyed
                key=None if i % 3 == 0 and i % 7 != 1 else b"k%d" % (i % 5),
                headers=[("broadway-attempt", b"2")] if i % 4 == 0 else [],
                partition=0,
                timestamp_ms=1_700_000_000_000 + i,
            )
        await producer.flush()
    finally:
        await producer.stop()


async def _read(topic: str, lean: bool) -> tuple[list[Any], str]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=BOOTSTRAP, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        if lean:
            assert lean_fetch.install(consumer)
        offsets = PartitionOffsets((topic, 0), 1)
        seen: list[Any] = []
        kinds: set[str] = set()
        deadline = time.monotonic() + 20
        while len(seen) < COUNT:
            assert time.monotonic() < deadline, f"read {len(seen)} of {COUNT} records"
            for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                kinds.update(type(r).__name__ for r in records)
                for message in to_messages(
                    records, (tp.topic, tp.partition), offsets, NOOP_ACKNOWLEDGER
                ):
                    seen.append((message.ack_data, message.data, message.attempt, message.metadata))
        (kind,) = kinds
        return seen, kind
    finally:
        await consumer.stop()


async def test_lean_and_plain_fetches_make_the_same_messages() -> None:
    topic = unique("lean-agree")
    await create_topics([topic], 1)
    await _fill(topic)
    plain, plain_kind = await _read(topic, lean=False)
    lean, lean_kind = await _read(topic, lean=True)
    assert (plain_kind, lean_kind) == ("ConsumerRecord", "DefaultRecord")
    assert lean == plain
    assert [offset for offset, *_ in lean] == list(range(COUNT))
    assert sum(1 for _, _, attempt, _ in lean if attempt == 2) == len(range(0, COUNT, 4))
