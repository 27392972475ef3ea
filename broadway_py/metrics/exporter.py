"""Exporter: subscribes to a pipeline's telemetry and owns its Prometheus registry.

::

    exporter = Exporter(pipeline)            # before pipeline.start(), to count everything
    await pipeline.start()
    ...
    text = exporter.render()                 # the Prometheus text format
    exporter.close()                         # unsubscribe

Each exporter has its own ``CollectorRegistry``, so several pipelines (or
tests) can live in one process. Add your own metrics to ``exporter.registry``
to have them served on the same ``/metrics``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.exposition import choose_encoder

from broadway_py.metrics.collector import PipelineCollector, oldest_in_flight_age
from broadway_py.metrics.readiness import Health, Readiness, check_health, check_readiness
from broadway_py.metrics.stats import PipelineStats

if TYPE_CHECKING:
    from broadway_py.pipeline import Pipeline


class Exporter:
    """The ``broadway_*`` metrics of one pipeline, fed by its telemetry.

    ``process_metrics`` adds prometheus_client's standard ``process_*``,
    ``python_gc_*`` and ``python_info`` collectors to the registry.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        *,
        stats: PipelineStats | None = None,
        process_metrics: bool = True,
    ) -> None:
        self.pipeline = pipeline
        self.stats = stats or PipelineStats()
        self.registry = CollectorRegistry()
        self.registry.register(PipelineCollector(pipeline, self.stats))
        if process_metrics:
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
            GCCollector(registry=self.registry)
        self._unsubscribe: Callable[[], None] | None = pipeline.telemetry.subscribe(self.stats)

    def close(self) -> None:
        """Stop listening to the pipeline (the registry can still be rendered)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def render(self, accept: str = "") -> tuple[bytes, str]:
        """The metrics in the format ``accept`` asks for (Prometheus text by default).

        Returns the body and its content type.
        """
        encode, content_type = choose_encoder(accept)
        return encode(self.registry), content_type

    def health(self) -> Health:
        return check_health(self.pipeline.state)

    def readiness(self, stall_window: float) -> Readiness:
        pipeline = self.pipeline
        return check_readiness(
            pipeline.state,
            len(pipeline.in_flight),
            oldest_in_flight_age(pipeline),
            self.stats,
            stall_window,
        )
