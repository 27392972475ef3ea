"""PipelineCollector: the ``broadway_*`` metrics of one pipeline, built at scrape time.

Counters and histograms come from :class:`PipelineStats`; the state, the
in-flight count and the age of the oldest in-flight message are read from the
pipeline itself when Prometheus scrapes, so they are never stale. Each
family's name, kind, labels and help text stand once, in :data:`FAMILIES`;
``collect`` makes them afresh per scrape (one object each) and fills in the values.
A pipeline with several named producers (``Pipeline(producers=...)``, a
file's ``producers:``) also gets :data:`PRODUCER_FAMILIES`, labelled with
each producer's name: a bounded label (at most ``MAX_PRODUCERS`` names).
The age of each producer's oldest in-flight message is exported for every
pipeline (``default`` names the one producer of a pipeline that has one): an
alert on it must not depend on how many producers there are. A partitioned
source's lag is exported per partition, at most ``MAX_PARTITION_SERIES``
partitions per source (backlog.py).
"""

from __future__ import annotations

import asyncio
import platform
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

import broadway_py
from broadway_py.metrics.backlog import MAX_PARTITION_SERIES
from broadway_py.metrics.histogram import Buckets
from broadway_py.metrics.stats import ACK_OUTCOMES, STAGE_GROUPS, PipelineStats

if TYPE_CHECKING:
    from broadway_py.pipeline import Pipeline

STATES = ("starting", "running", "draining", "stopped", "failed")


def _loop_time() -> float:
    """The clock ``received_at`` is stamped with, also when asked from outside the loop."""
    try:
        return asyncio.get_running_loop().time()
    except RuntimeError:
        # No running loop in this thread (a scrape from another thread): the
        # default event loop's clock is time.monotonic.
        return time.monotonic()


def oldest_in_flight_age_by_producer(pipeline: Pipeline) -> dict[int, float]:
    """Seconds since each producer instance's oldest in-flight message was received.

    Every instance (by index, as in ``producer_{index}``) is there: 0 when it has none.
    """
    oldest = pipeline.in_flight.oldest_received_at_by_producer()
    now = _loop_time()
    return {
        index: max(now - oldest[index], 0.0) if index in oldest else 0.0
        for index in range(len(pipeline.producer_names))
    }


def oldest_in_flight_age(pipeline: Pipeline) -> float:
    """The pipeline's oldest in-flight age, also when asked from outside its loop."""
    oldest = pipeline.in_flight.oldest_received_at()
    return 0.0 if oldest is None else max(_loop_time() - oldest, 0.0)


Kind = type[CounterMetricFamily] | type[GaugeMetricFamily] | type[HistogramMetricFamily]

FAMILIES: dict[str, tuple[Kind, tuple[str, ...], str]] = {
    # name: (kind, labels after "pipeline", help), in the order they are exported.
    "broadway_build_info": (
        GaugeMetricFamily,
        ("version", "python"),
        "Always 1; labels say which broadway_py and Python run this pipeline.",
    ),
    "broadway_pipeline_state": (
        GaugeMetricFamily,
        ("state",),
        "1 for the pipeline's current state, 0 for the others.",
    ),
    "broadway_messages_received": (
        CounterMetricFamily,
        (),
        "Messages producers handed to the pipeline (redeliveries count again).",
    ),
    "broadway_messages_processed": (
        CounterMetricFamily,
        ("outcome",),
        "Results of handle_message: ok, or failed (it raised or failed the message).",
    ),
    "broadway_messages_acked": (
        CounterMetricFamily,
        ("outcome",),
        "Messages whose outcome their broker was told, by the final outcome "
        "(dropped acks are not counted).",
    ),
    "broadway_messages_in_flight": (
        GaugeMetricFamily,
        (),
        "Messages received and not yet acknowledged.",
    ),
    "broadway_oldest_in_flight_age_seconds": (
        GaugeMetricFamily,
        (),
        "Seconds since the oldest in-flight message was received (0 when none).",
    ),
    "broadway_producer_oldest_in_flight_age_seconds": (
        GaugeMetricFamily,
        ("producer",),
        "Seconds since each producer's oldest in-flight message was received (0 when none), "
        "by producer name (the oldest of its instances).",
    ),
    "broadway_message_processing_seconds": (
        HistogramMetricFamily,
        (),
        "Time handle_message took, per message.",
    ),
    "broadway_batch_processing_seconds": (
        HistogramMetricFamily,
        ("batcher",),
        "Time handle_batch took, per batch.",
    ),
    "broadway_batch_size_messages": (
        HistogramMetricFamily,
        ("batcher",),
        "Messages per batch handed to handle_batch.",
    ),
    "broadway_rate_limiter_wait_seconds": (
        CounterMetricFamily,
        (),
        "Seconds producers spent waiting on the rate limiter.",
    ),
    "broadway_handler_calls_abandoned": (
        CounterMetricFamily,
        (),
        "handle_message calls past processors.timeout that run on, abandoned, in a worker "
        "thread or process (each holds that thread or process until it returns).",
    ),
    "broadway_stage_restarts": (
        CounterMetricFamily,
        ("stage",),
        "Stage restarts by the supervisor, by the group of the stage that crashed.",
    ),
    "broadway_producer_connected": (
        GaugeMetricFamily,
        (),
        "1 when every producer (each of producer.concurrency) is connected, else 0.",
    ),
    "broadway_backlog_messages": (
        GaugeMetricFamily,
        ("source",),
        "Messages waiting in the broker, where it tells: a queue's depth, or a topic's "
        "consumer lag summed over its partitions across every producer.",
    ),
    "broadway_partition_lag_messages": (
        GaugeMetricFamily,
        ("source", "partition"),
        "Consumer lag of each partition of a partitioned source (Kafka), as last reported "
        f"by the producer holding it (at most {MAX_PARTITION_SERIES} partitions per source).",
    ),
    "broadway_ack_failures": (
        CounterMetricFamily,
        (),
        "Acknowledger calls that raised (the broker redelivers what it did not take).",
    ),
    "broadway_acks_dropped": (
        CounterMetricFamily,
        (),
        "Acks a connector could not deliver (e.g. meant for a closed channel); "
        "the broker redelivers those messages.",
    ),
    "broadway_last_progress_timestamp_seconds": (
        GaugeMetricFamily,
        (),
        "Unix time of the last ack (of the exporter's start, before the first one).",
    ),
}
"""Every ``broadway_*`` family: its kind, its labels and its help text, defined once."""


PRODUCER_FAMILIES: dict[str, tuple[Kind, tuple[str, ...], str]] = {
    "broadway_producer_messages_received": (
        CounterMetricFamily,
        ("producer",),
        "Messages each named producer handed to the pipeline (only with several producers).",
    ),
    "broadway_producer_disconnected": (
        GaugeMetricFamily,
        ("producer",),
        "Instances of each named producer whose last report said disconnected "
        "(0 when all are connected; only with several producers).",
    ),
    "broadway_producer_acks_dropped": (
        CounterMetricFamily,
        ("producer",),
        "Acks each named producer's connector could not deliver (only with several producers).",
    ),
}
"""The per-producer families, exported after FAMILIES when a pipeline has several producers."""


def _new_families(
    families: dict[str, tuple[Kind, tuple[str, ...], str]] = FAMILIES,
) -> dict[str, Metric]:
    return {
        name: kind(name, documentation, labels=["pipeline", *labels])
        for name, (kind, labels, documentation) in families.items()
    }


class PipelineCollector(Collector):
    def __init__(self, pipeline: Pipeline, stats: PipelineStats) -> None:
        self.pipeline = pipeline
        self.stats = stats
        self.name = pipeline.name

    def describe(self) -> Iterable[Metric]:
        described = list(_new_families().values())
        if len(self.pipeline.producer_specs) > 1:
            described += _new_families(PRODUCER_FAMILIES).values()
        return described

    def collect(self) -> Iterable[Metric]:
        families = _new_families()
        self._fill(families)
        collected = list(families.values())
        if len(self.pipeline.producer_specs) > 1:
            per_producer = _new_families(PRODUCER_FAMILIES)
            self._fill_producers(per_producer)
            collected += per_producer.values()
        return collected

    def _fill_producers(self, f: dict[str, Any]) -> None:
        p = self.name
        for name, row in self.stats.per_producer(self.pipeline.producer_names).items():
            f["broadway_producer_messages_received"].add_metric([p, name], row["received"])
            f["broadway_producer_disconnected"].add_metric([p, name], row["disconnected"])
            f["broadway_producer_acks_dropped"].add_metric([p, name], row["acks_dropped"])

    def _fill(self, f: dict[str, Any]) -> None:
        """Add the samples to ``f``, the families of FAMILIES by name (their add_metric differ)."""
        p = self.name
        stats = self.stats
        pipeline = self.pipeline
        f["broadway_build_info"].add_metric(
            [p, broadway_py.__version__, platform.python_version()], 1
        )
        state = "starting" if pipeline.state == "new" else pipeline.state
        for name in STATES:
            f["broadway_pipeline_state"].add_metric([p, name], 1 if name == state else 0)
        f["broadway_messages_received"].add_metric([p], stats.received)
        processed = f["broadway_messages_processed"]
        processed.add_metric([p, "ok"], stats.processed_ok)
        processed.add_metric([p, "failed"], stats.processed_failed)
        for outcome in ACK_OUTCOMES:
            f["broadway_messages_acked"].add_metric([p, outcome], stats.acked[outcome])
        f["broadway_messages_in_flight"].add_metric([p], len(pipeline.in_flight))
        f["broadway_oldest_in_flight_age_seconds"].add_metric([p], oldest_in_flight_age(pipeline))
        by_name: dict[str, float] = {}
        names = pipeline.producer_names
        for index, age in oldest_in_flight_age_by_producer(pipeline).items():
            by_name[names[index]] = max(age, by_name.get(names[index], 0.0))
        for name, age in by_name.items():
            f["broadway_producer_oldest_in_flight_age_seconds"].add_metric([p, name], age)
        _histogram(f["broadway_message_processing_seconds"], [p], stats.message_seconds)
        # Every configured batcher has its series from the start, even at 0.
        for name in {**dict.fromkeys(pipeline.batcher_options), **stats.batchers}:
            batcher = stats.batcher(name)
            _histogram(f["broadway_batch_processing_seconds"], [p, name], batcher.seconds)
            _histogram(f["broadway_batch_size_messages"], [p, name], batcher.sizes)
        f["broadway_rate_limiter_wait_seconds"].add_metric([p], stats.rate_limiter_wait)
        f["broadway_handler_calls_abandoned"].add_metric([p], stats.handler_abandoned)
        for group in {**dict.fromkeys(STAGE_GROUPS), **stats.restarts}:
            f["broadway_stage_restarts"].add_metric([p, group], stats.restarts.get(group, 0))
        is_connected = stats.connected
        if is_connected is None:  # no producer reported: take it from the state
            is_connected = pipeline.state in ("running", "draining")
        f["broadway_producer_connected"].add_metric([p], 1 if is_connected else 0)
        for source, messages in sorted(stats.backlog.items()):
            f["broadway_backlog_messages"].add_metric([p, source], messages)
        for source, lags in stats.partition_lags().items():
            for partition, lag in lags.items():
                f["broadway_partition_lag_messages"].add_metric([p, source, str(partition)], lag)
        f["broadway_ack_failures"].add_metric([p], stats.ack_failures)
        f["broadway_acks_dropped"].add_metric([p], stats.acks_dropped)
        last = stats.last_progress_unix
        progress = stats.started_at_unix if last is None else last
        f["broadway_last_progress_timestamp_seconds"].add_metric([p], progress)


def _histogram(family: HistogramMetricFamily, labels: list[str], buckets: Buckets) -> None:
    family.add_metric(labels, buckets.cumulative(), buckets.sum)
