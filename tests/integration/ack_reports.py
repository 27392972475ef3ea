"""What a pipeline's telemetry reports of its acks: what was dropped, and what the broker was told.

Why: the dropped-ack tests of every connector judge the same two things, the
``AcksDropped`` reports and the exporter's count of what reached the broker
(``PipelineStats``, as ``/metrics`` shows it), from one subscription each.
"""

from __future__ import annotations

from broadway_py.metrics.stats import PipelineStats
from broadway_py.telemetry import AcksDropped, Event, Telemetry


class AckReports:
    """A pipeline's ``telemetry``, with its dropped-ack reports and its counters."""

    def __init__(self, name: str) -> None:
        self.telemetry = Telemetry(name)
        self.dropped: list[AcksDropped] = []
        self.stats = PipelineStats()
        self.telemetry.subscribe(self._record)
        self.telemetry.subscribe(self.stats)

    def _record(self, event: Event) -> None:
        if isinstance(event, AcksDropped):
            self.dropped.append(event)
