"""Buckets: one histogram series, filled in bulk from a chunk's durations.

``prometheus_client.Histogram.observe`` takes a lock and costs about a
microsecond per call, which would double the cost of a fast pipeline's
per-message path. A processor reports one tuple of durations per chunk, so
the exporter counts them here with a bisect per value (about a tenth of that)
and hands the cumulative counts to Prometheus only when it scrapes.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence


def decades(mantissas: tuple[str, ...], exponents: range) -> tuple[float, ...]:
    """``m * 10**e`` for each exponent, then each mantissa: a 1-2.5-5 style series.

    Each bound is parsed from its decimal text, so it is exactly the float its
    literal would be and its ``repr`` (the ``le`` label) stays short.
    """
    return tuple(float(f"{m}e{e}") for e in exponents for m in mantissas)


_STEPS = ("1", "2.5", "5")

# Below a microsecond: the demo's handler costs 100-500 ns a message here
# (the clock's own cost included; its mean was 311 ns), so the lowest bounds
# are under it and its percentiles fall between two measured bounds instead of
# being interpolated from 0 inside one wide first bucket. Below 100 ns is the
# clock's noise.
MESSAGE_SECONDS = (*decades(_STEPS, range(-7, 1)), 10.0, 30.0, 60.0)
"""Bucket bounds of ``broadway_message_processing_seconds`` (per message): 100 ns to 60 s,
in steps of at most 2.5x up to 10 s, so that a percentile is off by less than one such step."""

BATCH_SECONDS = (*decades(_STEPS, range(-5, 1)), 10.0, 30.0, 60.0, 120.0)
"""Bucket bounds of ``broadway_batch_processing_seconds`` (per batch): 10 µs (a batch
handler that does nothing) to 2 minutes (a slow bulk write), steps of at most 2.5x up to 10 s."""

BATCH_SIZES = (*decades(("1", "2", "5"), range(4)), 10000.0)
"""Bucket bounds of ``broadway_batch_size_messages``: 1 to 10,000 messages."""


class Buckets:
    """Counts per bucket (not cumulative), their sum and their count."""

    __slots__ = ("bounds", "count", "counts", "sum")

    def __init__(self, bounds: Sequence[float]) -> None:
        ordered = tuple(sorted(float(b) for b in bounds))
        if not ordered or len(set(ordered)) != len(ordered):
            raise ValueError("bucket bounds must be distinct and at least one")
        self.bounds = ordered
        # One slot per bound, plus the last one for values above every bound.
        self.counts = [0] * (len(ordered) + 1)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value
        self.count += 1

    def observe_many(self, values: Sequence[float]) -> None:
        counts = self.counts
        bounds = self.bounds
        for value in values:
            counts[bisect_left(bounds, value)] += 1
        self.sum += sum(values)
        self.count += len(values)

    def cumulative(self) -> list[tuple[str, float]]:
        """``(le, count of values <= le)`` per bound, then ``("+Inf", count)``."""
        result: list[tuple[str, float]] = []
        running = 0
        for bound, count in zip(self.bounds, self.counts, strict=False):
            running += count
            result.append((repr(bound), float(running)))
        result.append(("+Inf", float(self.count)))
        return result
