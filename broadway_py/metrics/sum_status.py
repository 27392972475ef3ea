"""Totals over several processes' ``/status`` documents (``broadway-py run --workers N``).

Counts add up (``counters``, ``in_flight``); ages do not:
``oldest_in_flight_age`` is the largest of the workers'. A partition's lag is
reported by the one worker holding it: ``partition_lag`` adds up, partition by
partition. ``backlog`` is per source the largest of the workers' for a queue
(each worker reports the whole depth of a queue it shares) and their sum for a
partitioned source, one in any worker's ``partition_lag`` (each worker reports
the lag of the partitions it holds, 0 without any), as /metrics does (see
:data:`broadway_py.metrics.sum_exposition.PARTITIONED_GAUGES`);
``backlog_total`` is the sum of that ``backlog``, or the largest of the
workers' ``backlog_total`` when none reports a ``backlog`` (an older worker).
``oldest_in_flight_age_by_producer`` is the largest per producer;
``recent_failures`` are the workers' together, newest first, at most
``RECENT_FAILURES``.
Pure: documents in, a document out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from broadway_py.metrics.stats import RECENT_FAILURES


def status_totals(documents: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The totals of ``documents`` (workers' /status): what is counted, added up."""
    partition_lag = add_up([d.get("partition_lag") for d in documents])
    backlog = _backlog(
        [d.get("backlog") for d in documents],
        partition_lag if isinstance(partition_lag, Mapping) else {},
    )
    return {
        "in_flight": add_up([d.get("in_flight") for d in documents]),
        "oldest_in_flight_age": _largest(d.get("oldest_in_flight_age") for d in documents),
        "backlog": backlog,
        "backlog_total": (
            _largest(d.get("backlog_total") for d in documents)
            if backlog is None
            else sum(v for v in backlog.values() if _is_number(v))
        ),
        "counters": add_up([d.get("counters") for d in documents]),
        "partition_lag": partition_lag,
        "oldest_in_flight_age_by_producer": _largest_by_key(
            [d.get("oldest_in_flight_age_by_producer") for d in documents]
        ),
        "recent_failures": _newest_failures([d.get("recent_failures") for d in documents]),
    }


def add_up(values: Sequence[Any]) -> Any:
    """Numbers added up, mappings key by key (recursively); anything else is left out.

    ``None`` when no value is a number or a mapping (a key some workers lack
    sums over the others).
    """
    mappings = [v for v in values if isinstance(v, Mapping)]
    if mappings:
        keys = dict.fromkeys(k for m in mappings for k in m)
        return {key: add_up([m.get(key) for m in mappings]) for key in keys}
    numbers = [v for v in values if _is_number(v)]
    if not numbers:
        return None
    total = sum(numbers)
    return round(total, 6) if isinstance(total, float) else total


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _largest(values: Any) -> float | int | None:
    numbers = [v for v in values if _is_number(v)]
    return max(numbers) if numbers else None


def _backlog(values: Sequence[Any], partitioned: Mapping[str, Any]) -> dict[str, Any] | None:
    """Each source's backlog over the mappings among ``values``; None without any mapping.

    The sum for a source in ``partitioned`` (a topic's lag, split among the
    workers), else the largest (a queue's depth, reported whole by each).
    """
    mappings = [v for v in values if isinstance(v, Mapping)]
    if not mappings:
        return None
    sources = dict.fromkeys(k for m in mappings for k in m)
    return {
        source: (
            add_up([m.get(source) for m in mappings])
            if source in partitioned
            else _largest(m.get(source) for m in mappings)
        )
        for source in sources
    }


def _largest_by_key(values: Sequence[Any]) -> dict[str, Any] | None:
    """The largest number of each key, over the mappings among ``values``; None without any."""
    mappings = [v for v in values if isinstance(v, Mapping)]
    if not mappings:
        return None
    keys = dict.fromkeys(k for m in mappings for k in m)
    return {key: _largest(m.get(key) for m in mappings) for key in keys}


def _newest_failures(values: Sequence[Any]) -> list[Any]:
    """The failures of every list among ``values``, newest first (by ``at``), the newest few."""
    failures = [
        f
        for v in values
        if isinstance(v, list)
        for f in v
        if isinstance(f, Mapping) and _is_number(f.get("at"))
    ]
    failures.sort(key=lambda f: f["at"], reverse=True)
    return failures[:RECENT_FAILURES]
