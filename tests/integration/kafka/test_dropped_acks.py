"""Acks the broker is never told of are reported as dropped, per outcome, and not counted.

In ordered mode a retry reads its partition again from the failed message, so
whatever was acked after it in the partition will be read (and acked) again:
those acks are dropped. ``broadway_messages_acked_total`` counts what the
broker was told, so each message counts once, however often it was handled.
"""

from __future__ import annotations

from collections import Counter

import pytest
from aiokafka import TopicPartition

from broadway_py import Message, Pipeline, ProcessorOptions, ProducerOptions, RetryPolicy
from broadway_py.connectors.kafka import ordering_key, producer_factory
from broadway_py.connectors.kafka.acknowledger import REWOUND
from tests.integration.ack_reports import AckReports
from tests.integration.kafka.broker import GroupProbe, create_topics, kafka_options, publish, unique
from tests.support import payloads, wait_until

pytestmark = pytest.mark.kafka


async def test_acks_after_an_ordered_retry_are_dropped_and_not_counted_as_told() -> None:
    topic, group = unique("dropped"), unique("dropped-group")
    await create_topics([topic], 1)
    sent = payloads(6, "d")
    await publish(topic, sent, partition=0)  # one batch: one fetch, one chunk
    options = kafka_options(topic, group, ordered=True)
    handled: Counter[int] = Counter()
    succeeded: set[int] = set()

    def handle(message: Message) -> Message:
        index = int(message.data.split(b"-")[1])
        handled[index] += 1
        # 2 and 4 fail at their first attempt; each retry reads the partition again.
        if index in (2, 4) and message.attempt == 1:
            raise RuntimeError(f"first attempt of {index}")
        succeeded.add(index)
        return message

    reports = AckReports("kafka-dropped")
    dropped, stats = reports.dropped, reports.stats
    pipeline = Pipeline(
        "kafka-dropped",
        handle,
        ProducerOptions(producer_factory(options, demand=10)),
        ProcessorOptions(concurrency=1, max_demand=10, partition_by=ordering_key(options)),
        retry=RetryPolicy(max_attempts=3, min_delay=0.1, max_delay=0.1, jitter=0),
        telemetry=reports.telemetry,
    )
    async with pipeline:
        await wait_until(lambda: succeeded == set(range(len(sent))), 30, "every message")
        probe = GroupProbe(group)
        await probe.start()
        try:
            tp = TopicPartition(topic, 0)
            await wait_until(
                lambda: _committed(probe, tp, len(sent)), 10, "the partition committed"
            )
        finally:
            await probe.stop()
    # The first chunk held all six: the retry of 2 dropped the acks of 3 (success),
    # 4 (its own retry, carried out by the rewind instead) and 5 (success).
    assert dropped, "the acks after the rewound offset were dropped"
    assert {d.reason for d in dropped} == {REWOUND}
    assert all(d.dead_lettered == 0 and d.discarded == 0 for d in dropped)
    assert all(d.count == d.successful + d.retried for d in dropped)
    # Each message handled more than its final time had its extra handlings' acks dropped,
    # except the failures that were told (one retry of 2 and one of 4).
    extra = sum(handled.values()) - len(sent)
    assert sum(d.count for d in dropped) == extra - 2
    assert dropped[0].successful == 2
    assert dropped[0].retried == 1
    # What the broker was told: six successes (each once) and two retries in place.
    assert stats.acked == {"successful": 6, "retried": 2, "dead_lettered": 0, "discarded": 0}
    assert stats.acks_dropped == sum(d.count for d in dropped)


async def _committed(probe: GroupProbe, tp: TopicPartition, offset: int) -> bool:
    return (await probe.committed([tp]))[tp] == offset
