"""Adding up several workers' /metrics: one test per rule of sum_exposition."""

from __future__ import annotations

import pytest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.parser import text_string_to_metric_families

from broadway_py import Message, Pipeline, ProducerOptions
from broadway_py.connectors.memory import MemoryBroker, MemoryProducer
from broadway_py.metrics import Exporter
from broadway_py.metrics.collector import FAMILIES
from broadway_py.metrics.sum_exposition import (
    GAUGE_RULES,
    PARTITIONED_GAUGES,
    Rule,
    parse,
    rule_for,
    sum_exposition,
)


def family(name: str, kind: str, *samples: str, help_text: str = "h") -> str:
    return "\n".join([f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", *samples, ""])


def values(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, keyed by name and labels."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }


def summed_value(texts: list[str], sample: str, **labels: str) -> float:
    return values(sum_exposition(texts))[(sample, tuple(sorted(labels.items())))]


def test_counters_are_added_up_per_label_set() -> None:
    texts = [
        family(
            "broadway_messages_acked_total",
            "counter",
            'broadway_messages_acked_total{outcome="successful",pipeline="p"} 3.0',
            'broadway_messages_acked_total{outcome="retried",pipeline="p"} 1.0',
        ),
        family(
            "broadway_messages_acked_total",
            "counter",
            'broadway_messages_acked_total{outcome="successful",pipeline="p"} 4.0',
            'broadway_messages_acked_total{outcome="retried",pipeline="p"} 0.0',
        ),
    ]
    total = values(sum_exposition(texts))
    assert total == {
        ("broadway_messages_acked_total", (("outcome", "successful"), ("pipeline", "p"))): 7.0,
        ("broadway_messages_acked_total", (("outcome", "retried"), ("pipeline", "p"))): 1.0,
    }


def test_histogram_buckets_sum_and_count_are_added_up() -> None:
    def histogram(low: int, high: int, seconds: float) -> str:
        return family(
            "broadway_batch_size_messages",
            "histogram",
            f'broadway_batch_size_messages_bucket{{batcher="db",le="10.0",pipeline="p"}} {low}',
            f'broadway_batch_size_messages_bucket{{batcher="db",le="+Inf",pipeline="p"}} {high}',
            f'broadway_batch_size_messages_count{{batcher="db",pipeline="p"}} {high}',
            f'broadway_batch_size_messages_sum{{batcher="db",pipeline="p"}} {seconds}',
        )

    texts = [histogram(1, 2, 12.0), histogram(3, 5, 30.5)]
    labels = {"batcher": "db", "pipeline": "p"}
    assert summed_value(texts, "broadway_batch_size_messages_bucket", le="10.0", **labels) == 4
    assert summed_value(texts, "broadway_batch_size_messages_bucket", le="+Inf", **labels) == 7
    assert summed_value(texts, "broadway_batch_size_messages_count", **labels) == 7
    assert summed_value(texts, "broadway_batch_size_messages_sum", **labels) == 42.5


def test_a_gauge_of_counts_is_added_up() -> None:
    texts = [
        family(
            "broadway_messages_in_flight",
            "gauge",
            f'broadway_messages_in_flight{{pipeline="p"}} {n}',
        )
        for n in (2, 5)
    ]
    assert summed_value(texts, "broadway_messages_in_flight", pipeline="p") == 7


@pytest.mark.parametrize("name", ["broadway_build_info", "python_info", "my_own_info"])
def test_an_info_gauge_stays_1(name: str) -> None:
    texts = [family(name, "gauge", f'{name}{{version="1"}} 1.0') for _ in range(3)]
    assert summed_value(texts, name, version="1") == 1


def test_a_one_hot_state_is_1_where_any_worker_is_in_that_state() -> None:
    def state(current: str) -> str:
        return family(
            "broadway_pipeline_state",
            "gauge",
            *(
                f'broadway_pipeline_state{{pipeline="p",state="{s}"}} {1 if s == current else 0}'
                for s in ("running", "draining", "failed")
            ),
        )

    total = values(sum_exposition([state("running"), state("running"), state("failed")]))
    by_state = {dict(labels)["state"]: v for (_, labels), v in total.items()}
    assert by_state == {"running": 1, "draining": 0, "failed": 1}


@pytest.mark.parametrize(
    "name",
    [
        "broadway_oldest_in_flight_age_seconds",
        "broadway_last_progress_timestamp_seconds",
        "broadway_backlog_messages",
    ],
)
def test_ages_times_and_queue_depths_take_the_largest(name: str) -> None:
    texts = [family(name, "gauge", f'{name}{{pipeline="p"}} {v}') for v in (3.5, 9.25, 1.0)]
    assert summed_value(texts, name, pipeline="p") == 9.25


def backlog_worker(
    backlog: dict[tuple[str, str], int], lags: dict[tuple[str, str, str], int]
) -> str:
    """One worker's backlog per (pipeline, source), and lag per (pipeline, source, partition)."""
    return family(
        "broadway_backlog_messages",
        "gauge",
        *(
            f'broadway_backlog_messages{{pipeline="{p}",source="{s}"}} {n}'
            for (p, s), n in backlog.items()
        ),
    ) + family(
        "broadway_partition_lag_messages",
        "gauge",
        *(
            f'broadway_partition_lag_messages{{partition="{n}",pipeline="{p}",source="{s}"}} {lag}'
            for (p, s, n), lag in lags.items()
        ),
    )


def test_a_topics_backlog_is_added_up_a_queues_takes_the_largest() -> None:
    # In pipeline "p", "orders" is a topic whose partitions the workers share
    # (the first holds none: 0) and "jobs" a queue; in pipeline "q", "orders"
    # is a queue too, reported whole by every worker.
    texts = [
        backlog_worker({("p", "orders"): 0, ("p", "jobs"): 30, ("q", "orders"): 12}, {}),
        backlog_worker(
            {("p", "orders"): 7, ("p", "jobs"): 31, ("q", "orders"): 12},
            {("p", "orders", "0"): 5, ("p", "orders", "1"): 2},
        ),
        backlog_worker(
            {("p", "orders"): 4, ("p", "jobs"): 29, ("q", "orders"): 11},
            {("p", "orders", "2"): 4},
        ),
    ]
    backlog = "broadway_backlog_messages"
    assert summed_value(texts, backlog, pipeline="p", source="orders") == 11
    assert summed_value(texts, backlog, pipeline="p", source="jobs") == 31
    assert summed_value(texts, backlog, pipeline="q", source="orders") == 12
    lag = "broadway_partition_lag_messages"
    assert summed_value(texts, lag, partition="2", pipeline="p", source="orders") == 4


def test_every_partitioned_gauge_is_marked_by_a_gauge_with_its_labels_and_more() -> None:
    assert PARTITIONED_GAUGES, "a partitioned gauge is named"
    for name, marker in PARTITIONED_GAUGES.items():
        kind, labels, _ = FAMILIES[name]
        marker_kind, marker_labels, _ = FAMILIES[marker]
        assert kind is GaugeMetricFamily
        assert marker_kind is GaugeMetricFamily
        assert set(labels) < set(marker_labels)


def test_producer_connected_is_1_only_when_every_worker_is_connected() -> None:
    name = "broadway_producer_connected"
    connected = family(name, "gauge", f'{name}{{pipeline="p"}} 1.0')
    disconnected = family(name, "gauge", f'{name}{{pipeline="p"}} 0.0')
    assert summed_value([connected, connected], name, pipeline="p") == 1
    assert summed_value([connected, disconnected, connected], name, pipeline="p") == 0


def test_process_start_time_is_the_earliest() -> None:
    name = "process_start_time_seconds"
    texts = [family(name, "gauge", f"{name} {v}") for v in (1700000050.0, 1700000010.0)]
    assert summed_value(texts, name) == 1700000010.0


def test_created_samples_take_the_earliest() -> None:
    texts = [
        family("jobs_total", "counter", f"jobs_total {n}", f"jobs_created {created}")
        for n, created in ((2, 1700000050.0), (3, 1700000010.0))
    ]
    assert summed_value(texts, "jobs_total") == 5
    assert summed_value(texts, "jobs_created") == 1700000010.0


def test_a_series_only_one_worker_has_is_kept() -> None:
    name = "broadway_batch_size_messages"
    one = family(
        name, "histogram", f'{name}_count{{batcher="a"}} 2', f'{name}_sum{{batcher="a"}} 4'
    )
    other = family(
        name, "histogram", f'{name}_count{{batcher="b"}} 1', f'{name}_sum{{batcher="b"}} 1'
    )
    assert summed_value([one, other], f"{name}_count", batcher="a") == 2
    assert summed_value([one, other], f"{name}_count", batcher="b") == 1


def test_every_broadway_gauge_has_a_rule_of_its_own() -> None:
    gauges = {n for n, (kind, _, _) in FAMILIES.items() if kind is GaugeMetricFamily}
    assert gauges, "FAMILIES has gauges"
    assert gauges - set(GAUGE_RULES) == set()


def test_the_rules_chosen_by_type_and_name() -> None:
    assert rule_for("x", "counter", "x_total") is Rule.SUM
    assert rule_for("x", "histogram", "x_bucket") is Rule.SUM
    assert rule_for("x", "gauge", "x") is Rule.SUM
    assert rule_for("x_info", "gauge", "x_info") is Rule.MAX
    assert rule_for("x", "info", "x_info") is Rule.MAX
    assert rule_for("x", "stateset", "x") is Rule.MAX
    assert rule_for("x", "counter", "x_created") is Rule.MIN
    backlog = "broadway_backlog_messages"
    assert rule_for(backlog, "gauge", backlog) is Rule.MAX
    assert rule_for(backlog, "gauge", backlog, partitioned=True) is Rule.SUM
    age = "broadway_oldest_in_flight_age_seconds"
    assert rule_for(age, "gauge", age, partitioned=True) is Rule.MAX


def test_one_worker_comes_out_as_it_went_in() -> None:
    def handle(message: Message) -> Message:
        return message

    queue = MemoryBroker().queue("q")
    exporter = Exporter(Pipeline("p", handle, ProducerOptions(MemoryProducer.factory(queue))))
    try:
        text = exporter.render()[0].decode()
    finally:
        exporter.close()
    assert sum_exposition([text]) == text
    doubled = values(sum_exposition([text, text]))
    assert doubled.keys() == values(text).keys()


def test_a_text_that_is_no_exposition_is_refused() -> None:
    with pytest.raises(ValueError, match="not a Prometheus exposition"):
        parse('broadway_messages_in_flight{pipeline="p" 1.0\n')
