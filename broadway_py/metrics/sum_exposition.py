"""Several processes' ``/metrics`` added up into one exposition, with the same names and labels.

Under ``broadway-py run --workers N`` every worker process has its own
registry; the parent's port serves their sum, so a dashboard or an alert
reads the same series it reads from a single process. Samples with the same
name and labels are combined by their family's :class:`Rule`:

- counters, histograms (buckets, ``_sum``, ``_count``) and summaries: added up;
- gauges: as :data:`GAUGE_RULES` says for each family it names; added up
  otherwise, except ``*_info`` gauges (always 1: the largest). A series of a
  family :data:`PARTITIONED_GAUGES` names is added up when it is a partitioned
  source's (a Kafka topic's backlog: each worker reports its partitions' share);
- ``*_created`` samples (a counter's start time): the earliest.

Pure: text in, families (or text) out. A text that does not parse raises
``ValueError`` from :func:`parse`, so the caller can leave that process out.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import MappingProxyType

from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector


class Rule(enum.Enum):
    """How the values of one series from several processes become one value."""

    SUM = "sum"
    MAX = "max"
    MIN = "min"

    def combine(self, first: float, second: float) -> float:
        if self is Rule.SUM:
            return first + second
        if self is Rule.MAX:
            return max(first, second)
        return min(first, second)


GAUGE_RULES: Mapping[str, Rule] = MappingProxyType(
    {
        # Always 1, labelled with versions: 1 when any process says so.
        "broadway_build_info": Rule.MAX,
        "python_info": Rule.MAX,
        # One-hot per process: 1 for a state when at least one worker is in it.
        "broadway_pipeline_state": Rule.MAX,
        "broadway_messages_in_flight": Rule.SUM,
        # An age: the oldest message of any worker.
        "broadway_oldest_in_flight_age_seconds": Rule.MAX,
        # The same per producer (its name is the same in every worker).
        "broadway_producer_oldest_in_flight_age_seconds": Rule.MAX,
        # 1 only when every producer is connected: of every worker, too.
        "broadway_producer_connected": Rule.MIN,
        # A queue's depth is reported whole by every worker that consumes it;
        # adding it up would count the queue once per worker. (A Kafka topic's
        # lag is split among the workers by partition: added up, as
        # PARTITIONED_GAUGES says.)
        "broadway_backlog_messages": Rule.MAX,
        # A partition is held by one worker (one group member) at a time, which
        # alone reports its lag: the sum is that lag. (A member that lost it in a
        # rebalance drops it at its next report.)
        "broadway_partition_lag_messages": Rule.SUM,
        # A time: the latest progress of any worker.
        "broadway_last_progress_timestamp_seconds": Rule.MAX,
        "process_virtual_memory_bytes": Rule.SUM,
        "process_resident_memory_bytes": Rule.SUM,
        "process_open_fds": Rule.SUM,
        # A limit each process has on its own.
        "process_max_fds": Rule.MAX,
        # When the first of the workers running now started.
        "process_start_time_seconds": Rule.MIN,
    }
)
"""The rule of each gauge family, by the family's name; every ``broadway_*`` gauge is named."""

PARTITIONED_GAUGES: Mapping[str, str] = MappingProxyType(
    {
        # A Kafka topic's lag is split among the workers (the consumer group's
        # members) by partition: each reports the lag of the partitions it
        # holds (0 when it holds none), so the topic's backlog is their sum.
        "broadway_backlog_messages": "broadway_partition_lag_messages",
    }
)
"""Gauge families whose partitioned series are added up, by name: the family that marks them.

A series is partitioned when any process has a series of the marking family
with the same value of each of the series' labels (the same pipeline and
source); the family's other series keep their rule in :data:`GAUGE_RULES`.
"""


def rule_for(
    family_name: str, family_type: str, sample_name: str, *, partitioned: bool = False
) -> Rule:
    """The rule that combines the samples ``sample_name`` of a family across processes.

    ``partitioned``: the series is marked partitioned (see :data:`PARTITIONED_GAUGES`).
    """
    if sample_name.endswith("_created"):
        return Rule.MIN
    if family_type == "gauge":
        if partitioned and family_name in PARTITIONED_GAUGES:
            return Rule.SUM
        default = Rule.MAX if family_name.endswith("_info") else Rule.SUM
        return GAUGE_RULES.get(family_name, default)
    if family_type in ("info", "stateset"):
        return Rule.MAX
    return Rule.SUM


def parse(text: str) -> list[Metric]:
    """The families of one Prometheus text exposition; ``ValueError`` if it is malformed."""
    try:
        return list(text_string_to_metric_families(text))
    except (ValueError, IndexError, KeyError) as error:
        raise ValueError(f"not a Prometheus exposition: {error}") from error


SeriesKey = tuple[str, tuple[tuple[str, str], ...]]


def combine(expositions: Iterable[Sequence[Metric]]) -> list[Metric]:
    """One family per name, each series combined by its rule; in the order first seen."""
    processes = list(expositions)
    is_partitioned = _partitioned(processes)
    merged: dict[str, Metric] = {}
    values: dict[str, dict[SeriesKey, tuple[dict[str, str], float]]] = {}
    for families in processes:
        for family in families:
            if family.name not in merged:
                merged[family.name] = Metric(
                    family.name, family.documentation, family.type, family.unit
                )
                values[family.name] = {}
            series = values[family.name]
            kind = merged[family.name].type
            for sample in family.samples:
                key = (sample.name, tuple(sorted(sample.labels.items())))
                seen = series.get(key)
                if seen is None:
                    series[key] = (dict(sample.labels), sample.value)
                else:
                    rule = rule_for(
                        family.name,
                        kind,
                        sample.name,
                        partitioned=is_partitioned(family.name, sample.labels),
                    )
                    series[key] = (seen[0], rule.combine(seen[1], sample.value))
    for name, family in merged.items():
        for (sample_name, _), (labels, value) in values[name].items():
            family.add_sample(sample_name, labels, value)
    return list(merged.values())


def _partitioned(processes: Sequence[Sequence[Metric]]) -> Callable[[str, Mapping[str, str]], bool]:
    """Whether a series (family name, labels) is marked partitioned by any of ``processes``."""
    markers = set(PARTITIONED_GAUGES.values())
    marks: dict[str, list[Mapping[str, str]]] = {}
    for families in processes:
        for family in families:
            if family.name in markers:
                marks.setdefault(family.name, []).extend(s.labels for s in family.samples)
    # The marks' values of some label names, per marking family and names.
    projections: dict[tuple[str, tuple[str, ...]], set[tuple[str | None, ...]]] = {}

    def is_partitioned(family_name: str, labels: Mapping[str, str]) -> bool:
        marker = PARTITIONED_GAUGES.get(family_name)
        if marker is None or marker not in marks:
            return False
        names = tuple(sorted(labels))
        known = projections.get((marker, names))
        if known is None:
            known = projections[marker, names] = {
                tuple(m.get(n) for n in names) for m in marks[marker]
            }
        return tuple(labels[n] for n in names) in known

    return is_partitioned


class Families(Collector):
    """Ready-made families, to render with prometheus_client's encoders."""

    def __init__(self, families: Sequence[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return self.families


def sum_exposition(texts: Sequence[str]) -> str:
    """The expositions ``texts`` combined into one, in the Prometheus text format."""
    return generate_latest(Families(combine(parse(t) for t in texts))).decode()
