"""Totals over several processes' ``/status`` documents (``broadway-py run --workers N``).

Counts add up (``counters``, ``in_flight``); ages and a queue's depth do not:
``oldest_in_flight_age`` and ``backlog_total`` are the largest of the workers'
(each worker reports the whole depth of a queue it shares; see
:data:`broadway_py.metrics.sum_exposition.GAUGE_RULES`, which /metrics follows).
Pure: documents in, a document out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def status_totals(documents: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The totals of ``documents`` (workers' /status): what is counted, added up."""
    return {
        "in_flight": add_up([d.get("in_flight") for d in documents]),
        "oldest_in_flight_age": _largest(d.get("oldest_in_flight_age") for d in documents),
        "backlog_total": _largest(d.get("backlog_total") for d in documents),
        "counters": add_up([d.get("counters") for d in documents]),
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
