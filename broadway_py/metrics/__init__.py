"""Prometheus metrics and the health / readiness / status HTTP port of a pipeline.

Fed by the pipeline's telemetry events; core does not know this package exists.

::

    from broadway_py.metrics import serve

    server = await serve(pipeline, host="0.0.0.0", port=9000, stall_window=60.0, admin=False)
    try:
        await pipeline.run()
    finally:
        await server.close()

See docs/observability.md for the metrics, the endpoints and readiness.
"""

from broadway_py.metrics.exporter import Exporter
from broadway_py.metrics.readiness import Health, Readiness, check_health, check_readiness
from broadway_py.metrics.server import Server, build_app, serve
from broadway_py.metrics.stats import PipelineStats

__all__ = [
    "Exporter",
    "Health",
    "PipelineStats",
    "Readiness",
    "Server",
    "build_app",
    "check_health",
    "check_readiness",
    "serve",
]
