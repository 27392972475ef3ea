"""The ``/status`` document: the topology, its counters and its health, as JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import broadway_py
from broadway_py.metrics.collector import oldest_in_flight_age, oldest_in_flight_age_by_producer

if TYPE_CHECKING:
    from broadway_py.metrics.exporter import Exporter


def build_status(exporter: Exporter, stall_window: float, admin: bool) -> dict[str, Any]:
    """``pipeline.describe()`` plus counters, connection, backlog and readiness.

    Also each partition's lag (``partition_lag``), the oldest in-flight age of
    each producer instance (``oldest_in_flight_age_by_producer``) and the newest
    failed messages, newest first (``recent_failures``).
    """
    pipeline = exporter.pipeline
    stats = exporter.stats
    status = pipeline.describe()
    readiness = exporter.readiness(stall_window)
    health = exporter.health()
    now = stats.clock()
    progress_age = stats.progress_age(now)
    status.update(
        {
            "version": broadway_py.__version__,
            "alive": health.alive,
            "ready": readiness.ready,
            "not_ready_reasons": list(readiness.reasons),
            "stall_window": stall_window,
            "connected": stats.connected,
            "producer_connections": {
                f"producer_{key}": {
                    "connected": c.connected,
                    "reason": c.reason,
                    "for_seconds": round(max(now - c.since, 0.0), 3),
                }
                for key, c in sorted(stats.producers.items())
            },
            "producer_counters": stats.per_producer(pipeline.producer_names),
            "backlog": dict(sorted(stats.backlog.items())),
            "backlog_total": stats.backlog_total,
            "partition_lag": {
                source: {str(partition): lag for partition, lag in lags.items()}
                for source, lags in stats.partition_lags().items()
            },
            "oldest_in_flight_age": round(oldest_in_flight_age(pipeline), 6),
            "oldest_in_flight_age_by_producer": {
                f"producer_{index}": round(age, 6)
                for index, age in oldest_in_flight_age_by_producer(pipeline).items()
            },
            "last_progress_age": None if progress_age is None else round(progress_age, 6),
            "counters": {
                "received": stats.received,
                "processed": {"ok": stats.processed_ok, "failed": stats.processed_failed},
                "acked": dict(stats.acked),
                "acked_by_stage": {k: dict(v) for k, v in stats.acked_by_stage.items()},
                "restarts": dict(stats.restarts),
                "rate_limiter_wait_seconds": round(stats.rate_limiter_wait, 6),
                "ack_failures": stats.ack_failures,
                "acks_dropped": stats.acks_dropped,
                "message_processing": {
                    "count": stats.message_seconds.count,
                    "seconds": round(stats.message_seconds.sum, 6),
                },
            },
            "stages": _stages(exporter),
            "last_restart": stats.last_restart,
            "last_ack_failure": stats.last_ack_failure,
            "recent_failures": [
                {
                    "at": failure.at,
                    "stage": failure.stage,
                    "message_id": failure.sample.message_id,
                    "reason": failure.sample.reason,
                    "decision": failure.sample.decision,
                    "delay": failure.sample.delay,
                }
                for failure in stats.newest_failures()
            ],
            "admin": admin,
        }
    )
    return status


def _stages(exporter: Exporter) -> dict[str, dict[str, int]]:
    """Counters per stage, named as the supervisor names them; idle stages show zeros."""
    pipeline = exporter.pipeline
    stats = exporter.stats
    stages: dict[str, dict[str, int]] = {}
    for i in range(len(pipeline.producer_names)):
        stages[f"producer_{i}"] = {"received": 0, "restarts": 0}
    for i in range(pipeline.processor_options.concurrency):
        stages[f"processor_{i}"] = {"ok": 0, "failed": 0, "restarts": 0}
    for name in {**dict.fromkeys(pipeline.batcher_options), **stats.batchers}:
        batcher = stats.batchers.get(name)
        stages[f"batcher_{name}"] = {
            "batches": batcher.batches if batcher else 0,
            "messages": batcher.messages if batcher else 0,
            "failed": batcher.failed if batcher else 0,
            "restarts": 0,
        }
    for name, counters in stats.stages.items():
        stages.setdefault(name, {}).update(counters)
    return stages
