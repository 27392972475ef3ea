"""Per-partition lag (capped), the ring of recent failures, and per-producer oldest ages."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from broadway_py import Message, Pipeline, ProducerOptions
from broadway_py.acknowledger import NOOP_ACKNOWLEDGER
from broadway_py.connectors.memory import MemoryBroker, MemoryProducer
from broadway_py.metrics import Exporter
from broadway_py.metrics.backlog import MAX_PARTITION_SERIES, Backlog
from broadway_py.metrics.stats import RECENT_FAILURES, PipelineStats
from broadway_py.metrics.status import build_status
from broadway_py.metrics.sum_exposition import sum_exposition
from broadway_py.telemetry import (
    BacklogReported,
    FailureSample,
    MessagesAcked,
    MessagesFailed,
    PartitionLagReported,
)
from broadway_py.topology.holding import Holding
from tests.support import Recorder
from tests.unit.metrics.test_backlog import member_round


def test_each_partitions_latest_lag_is_kept_and_a_moved_partition_disappears() -> None:
    backlog = Backlog()
    member_round(backlog, 0, "orders", {0: 150, 1: 150, 2: 9})
    assert backlog.partition_lags() == {"orders": {0: 150, 1: 150, 2: 9}}
    member_round(backlog, 0, "orders", {0: 120, 1: 140, 2: 5})
    assert backlog.partition_lags() == {"orders": {0: 120, 1: 140, 2: 5}}
    # A rebalance gives partition 1 to producer 1; producer 0's next round drops it.
    member_round(backlog, 0, "orders", {0: 100, 2: 4})
    assert backlog.partition_lags() == {"orders": {0: 100, 2: 4}}
    member_round(backlog, 1, "orders", {1: 130})
    assert backlog.partition_lags() == {"orders": {0: 100, 1: 130, 2: 4}}
    assert backlog.by_source == {"orders": 234}


def test_a_queue_has_no_partitions() -> None:
    backlog = Backlog()
    backlog.reported(BacklogReported("q", 12))
    assert backlog.partition_lags() == {}


def test_the_partitions_exposed_per_source_are_capped_the_backlog_is_not() -> None:
    backlog = Backlog()
    many = MAX_PARTITION_SERIES + 5
    member_round(backlog, 0, "huge", {p: 1 for p in reversed(range(many))})
    member_round(backlog, 0, "small", {3: 7})
    lags = backlog.partition_lags()
    assert list(lags["huge"]) == list(range(MAX_PARTITION_SERIES)), "the lowest numbers, in order"
    assert lags["small"] == {3: 7}
    assert backlog.by_source["huge"] == many


def failed(stage: str, *reasons: str, count: int | None = None) -> MessagesFailed:
    samples = tuple(FailureSample(f"id-{r}", r, "retry", 2.0) for r in reasons)
    return MessagesFailed(stage, len(reasons) if count is None else count, samples)


def test_failures_are_counted_and_the_newest_kept_dated_by_the_wall_clock() -> None:
    wall = iter(float(t) for t in range(1000, 2000))
    stats = PipelineStats(clock=lambda: 0.0, wall_clock=lambda: next(wall))
    stats(failed("processor_0", "a", "b", count=9))
    stats(failed("batcher_db_0", "c"))
    assert stats.failures == 10
    newest = stats.newest_failures()
    assert [(f.stage, f.sample.reason, f.at) for f in newest] == [
        ("batcher_db_0", "c", 1002.0),
        ("processor_0", "b", 1001.0),
        ("processor_0", "a", 1001.0),
    ]


def test_the_ring_keeps_only_the_newest() -> None:
    stats = PipelineStats(wall_clock=lambda: 5.0)
    for i in range(RECENT_FAILURES + 7):
        stats(failed("processor_0", str(i)))
    reasons = [f.sample.reason for f in stats.newest_failures()]
    assert reasons == [str(i) for i in reversed(range(7, RECENT_FAILURES + 7))]
    assert stats.failures == RECENT_FAILURES + 7


def pipeline(name: str, **producers: int) -> Pipeline:
    queue = MemoryBroker().queue("q")
    if not producers:
        return Pipeline(name, Recorder(), ProducerOptions(MemoryProducer.factory(queue)))
    return Pipeline(
        name,
        Recorder(),
        producers={
            producer: ProducerOptions(MemoryProducer.factory(queue), concurrency=n)
            for producer, n in producers.items()
        },
    )


def samples(text: str, family: str) -> dict[tuple[tuple[str, str], ...], float]:
    found = {}
    for metric in text_string_to_metric_families(text):
        if metric.name == family:
            for s in metric.samples:
                found[tuple(sorted(s.labels.items()))] = s.value
    return found


def test_partition_lag_series_and_status_keys() -> None:
    exporter = Exporter(pipeline("lagging"), process_metrics=False)
    stats: PipelineStats = exporter.stats
    for partition, lag in ((0, 5), (2, 11)):
        stats(PartitionLagReported("orders", partition, lag))
    stats(BacklogReported("orders", 16))
    text = exporter.render()[0].decode()
    assert samples(text, "broadway_partition_lag_messages") == {
        (("partition", "0"), ("pipeline", "lagging"), ("source", "orders")): 5.0,
        (("partition", "2"), ("pipeline", "lagging"), ("source", "orders")): 11.0,
    }
    status = build_status(exporter, 60.0, False)
    assert status["partition_lag"] == {"orders": {"0": 5, "2": 11}}
    assert status["recent_failures"] == []
    assert status["oldest_in_flight_age_by_producer"] == {"producer_0": 0.0}
    # Two workers, each holding some partitions: the exposition adds them up by series.
    other = Exporter(pipeline("lagging"), process_metrics=False)
    other.stats(PartitionLagReported("orders", 1, 3))
    other.stats(BacklogReported("orders", 3))
    both = sum_exposition([text, other.render()[0].decode()])
    assert len(samples(both, "broadway_partition_lag_messages")) == 3


def test_status_lists_recent_failures_newest_first_as_json() -> None:
    exporter = Exporter(pipeline("failing"), process_metrics=False)
    exporter.stats(failed("processor_1", "first"))
    exporter.stats(MessagesAcked("processor_1", 0, 1, 0, 0))
    exporter.stats(
        MessagesFailed("batcher_db_0", 1, (FailureSample(None, "second", "dead_letter", 0.0),))
    )
    status: dict[str, Any] = json.loads(json.dumps(build_status(exporter, 60.0, False)))
    failures = status["recent_failures"]
    assert [{k: v for k, v in f.items() if k != "at"} for f in failures] == [
        {
            "stage": "batcher_db_0",
            "message_id": None,
            "reason": "second",
            "decision": "dead_letter",
            "delay": 0.0,
        },
        {
            "stage": "processor_1",
            "message_id": "id-first",
            "reason": "first",
            "decision": "retry",
            "delay": 2.0,
        },
    ]
    assert failures[0]["at"] >= failures[1]["at"] > 1_600_000_000


def test_every_producer_has_its_oldest_age_even_at_zero() -> None:
    many = pipeline("many", orders=2, refunds=1)
    text = Exporter(many, process_metrics=False).render()[0].decode()
    assert samples(text, "broadway_producer_oldest_in_flight_age_seconds") == {
        (("pipeline", "many"), ("producer", "orders")): 0.0,
        (("pipeline", "many"), ("producer", "refunds")): 0.0,
    }
    status = build_status(Exporter(many, process_metrics=False), 60.0, False)
    assert status["oldest_in_flight_age_by_producer"] == {
        "producer_0": 0.0,
        "producer_1": 0.0,
        "producer_2": 0.0,
    }


def test_each_producers_oldest_age_comes_from_the_messages_it_received() -> None:
    many = pipeline("held", orders=2, refunds=1)
    holding = Holding()
    many.in_flight.register(0, holding)
    now = time.monotonic()  # no running loop here: the collector reads this clock
    chunks: list[Iterable[Message]] = []
    for producer, age in ((0, 50.0), (1, 100.0), (0, 10.0)):
        chunk = [Message(b"x", NOOP_ACKNOWLEDGER)]
        many.in_flight.receive(chunk, now - age, producer)
        chunks.append(chunk)
    holding.chunks = chunks
    exporter = Exporter(many, process_metrics=False)
    ages = samples(exporter.render()[0].decode(), "broadway_producer_oldest_in_flight_age_seconds")
    # By name, the oldest of its instances; a producer with nothing in flight is at 0.
    assert 100.0 <= ages[(("pipeline", "held"), ("producer", "orders"))] < 150.0
    assert ages[(("pipeline", "held"), ("producer", "refunds"))] == 0.0
    by_instance = build_status(exporter, 60.0, False)["oldest_in_flight_age_by_producer"]
    assert 50.0 <= by_instance["producer_0"] < 100.0
    assert 100.0 <= by_instance["producer_1"] < 150.0
    assert by_instance["producer_2"] == 0.0
