"""PipelineCollector: the ``broadway_*`` metrics of one pipeline, built at scrape time.

Counters and histograms come from :class:`PipelineStats`; the state, the
in-flight count and the age of the oldest in-flight message are read from the
pipeline itself when Prometheus scrapes, so they are never stale.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

import broadway_py
from broadway_py.metrics.histogram import Buckets
from broadway_py.metrics.stats import ACK_OUTCOMES, STAGE_GROUPS, PipelineStats

if TYPE_CHECKING:
    from broadway_py.pipeline import Pipeline

STATES = ("starting", "running", "draining", "stopped", "failed")


def oldest_in_flight_age(pipeline: Pipeline) -> float:
    """The pipeline's oldest in-flight age, also when asked from outside its loop."""
    try:
        return pipeline.oldest_in_flight_age()
    except RuntimeError:
        # No running loop in this thread (a scrape from another thread): the
        # default event loop's clock is time.monotonic.
        oldest = pipeline.in_flight.oldest_received_at()
        return 0.0 if oldest is None else max(time.monotonic() - oldest, 0.0)


class PipelineCollector(Collector):
    def __init__(self, pipeline: Pipeline, stats: PipelineStats) -> None:
        self.pipeline = pipeline
        self.stats = stats
        self.name = pipeline.name

    def describe(self) -> Iterable[Metric]:
        return list(self._families(empty=True))

    def collect(self) -> Iterable[Metric]:
        return list(self._families(empty=False))

    def _families(self, empty: bool) -> Iterator[Metric]:
        p = self.name
        stats = self.stats
        pipeline = self.pipeline

        build = GaugeMetricFamily(
            "broadway_build_info",
            "Always 1; labels say which broadway_py and Python run this pipeline.",
            labels=["pipeline", "version", "python"],
        )
        state_family = GaugeMetricFamily(
            "broadway_pipeline_state",
            "1 for the pipeline's current state, 0 for the others.",
            labels=["pipeline", "state"],
        )
        received = CounterMetricFamily(
            "broadway_messages_received",
            "Messages producers handed to the pipeline (redeliveries count again).",
            labels=["pipeline"],
        )
        processed = CounterMetricFamily(
            "broadway_messages_processed",
            "Results of handle_message: ok, or failed (it raised or failed the message).",
            labels=["pipeline", "outcome"],
        )
        acked = CounterMetricFamily(
            "broadway_messages_acked",
            "Messages whose outcome their broker was told, by the final outcome "
            "(dropped acks are not counted).",
            labels=["pipeline", "outcome"],
        )
        in_flight = GaugeMetricFamily(
            "broadway_messages_in_flight",
            "Messages received and not yet acknowledged.",
            labels=["pipeline"],
        )
        oldest = GaugeMetricFamily(
            "broadway_oldest_in_flight_age_seconds",
            "Seconds since the oldest in-flight message was received (0 when none).",
            labels=["pipeline"],
        )
        message_seconds = HistogramMetricFamily(
            "broadway_message_processing_seconds",
            "Time handle_message took, per message.",
            labels=["pipeline"],
        )
        batch_seconds = HistogramMetricFamily(
            "broadway_batch_processing_seconds",
            "Time handle_batch took, per batch.",
            labels=["pipeline", "batcher"],
        )
        batch_sizes = HistogramMetricFamily(
            "broadway_batch_size_messages",
            "Messages per batch handed to handle_batch.",
            labels=["pipeline", "batcher"],
        )
        waited = CounterMetricFamily(
            "broadway_rate_limiter_wait_seconds",
            "Seconds producers spent waiting on the rate limiter.",
            labels=["pipeline"],
        )
        restarts = CounterMetricFamily(
            "broadway_stage_restarts",
            "Stage restarts by the supervisor, by the group of the stage that crashed.",
            labels=["pipeline", "stage"],
        )
        connected = GaugeMetricFamily(
            "broadway_producer_connected",
            "1 when every producer (each of producer.concurrency) is connected, else 0.",
            labels=["pipeline"],
        )
        backlog = GaugeMetricFamily(
            "broadway_backlog_messages",
            "Messages waiting in the broker, where it tells: a queue's depth, or a topic's "
            "consumer lag summed over its partitions across every producer.",
            labels=["pipeline", "source"],
        )
        ack_failures = CounterMetricFamily(
            "broadway_ack_failures",
            "Acknowledger calls that raised (the broker redelivers what it did not take).",
            labels=["pipeline"],
        )
        dropped = CounterMetricFamily(
            "broadway_acks_dropped",
            "Acks a connector could not deliver (e.g. meant for a closed channel); "
            "the broker redelivers those messages.",
            labels=["pipeline"],
        )
        progress = GaugeMetricFamily(
            "broadway_last_progress_timestamp_seconds",
            "Unix time of the last ack (of the exporter's start, before the first one).",
            labels=["pipeline"],
        )
        families: list[Metric] = [
            build,
            state_family,
            received,
            processed,
            acked,
            in_flight,
            oldest,
            message_seconds,
            batch_seconds,
            batch_sizes,
            waited,
            restarts,
            connected,
            backlog,
            ack_failures,
            dropped,
            progress,
        ]
        if empty:
            yield from families
            return

        build.add_metric([p, broadway_py.__version__, platform.python_version()], 1)
        state = "starting" if pipeline.state == "new" else pipeline.state
        for name in STATES:
            state_family.add_metric([p, name], 1 if name == state else 0)
        received.add_metric([p], stats.received)
        processed.add_metric([p, "ok"], stats.processed_ok)
        processed.add_metric([p, "failed"], stats.processed_failed)
        for outcome in ACK_OUTCOMES:
            acked.add_metric([p, outcome], stats.acked[outcome])
        in_flight.add_metric([p], len(pipeline.in_flight))
        oldest.add_metric([p], oldest_in_flight_age(pipeline))
        _histogram(message_seconds, [p], stats.message_seconds)
        # Every configured batcher has its series from the start, even at 0.
        for name in {**dict.fromkeys(pipeline.batcher_options), **stats.batchers}:
            batcher = stats.batcher(name)
            _histogram(batch_seconds, [p, name], batcher.seconds)
            _histogram(batch_sizes, [p, name], batcher.sizes)
        waited.add_metric([p], stats.rate_limiter_wait)
        for group in {**dict.fromkeys(STAGE_GROUPS), **stats.restarts}:
            restarts.add_metric([p, group], stats.restarts.get(group, 0))
        is_connected = stats.connected
        if is_connected is None:  # no producer reported: take it from the state
            is_connected = pipeline.state in ("running", "draining")
        connected.add_metric([p], 1 if is_connected else 0)
        for source, messages in sorted(stats.backlog.items()):
            backlog.add_metric([p, source], messages)
        ack_failures.add_metric([p], stats.ack_failures)
        dropped.add_metric([p], stats.acks_dropped)
        last = stats.last_progress_unix
        progress.add_metric([p], stats.started_at_unix if last is None else last)
        yield from families


def _histogram(family: HistogramMetricFamily, labels: list[str], buckets: Buckets) -> None:
    family.add_metric(labels, buckets.cumulative(), buckets.sum)
