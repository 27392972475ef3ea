"""Liveness and readiness of a pipeline, decided from its state and its stats.

Alive (``/healthz``): the event loop answers (it does, or nobody would get the
answer) and the supervisor has not given up (state is not ``failed``).

Ready (``/readyz``), all of:

- the state is ``running`` (not starting, draining, stopped or failed);
- every producer that reported on its connection last said it is connected
  (a producer that never reports is taken as connected);
- no stall: while work is pending (messages in flight, or a backlog above 0
  reported by the broker) for longer than ``stall_window`` seconds, some
  message was acknowledged within the last ``stall_window`` seconds.

Work pending for less than the window never counts as a stall, so a pipeline
that sat idle for an hour is not reported stalled the moment a message comes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from broadway_py.metrics.stats import PipelineStats

STATE_REASONS = {
    "new": "starting: the pipeline has not been started yet",
    "starting": "starting: the producers are connecting",
    "draining": "draining: the pipeline is finishing its in-flight work before it stops",
    "stopped": "stopped: the pipeline has stopped",
    "failed": "failed: the supervisor gave up after too many stage restarts",
}


@dataclass(frozen=True)
class Health:
    alive: bool
    state: str
    reason: str = ""

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"alive": self.alive, "state": self.state}
        if self.reason:
            body["reason"] = self.reason
        return body


@dataclass(frozen=True)
class Readiness:
    ready: bool
    state: str
    reasons: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {"ready": self.ready, "state": self.state, "reasons": list(self.reasons)}


def check_health(state: str) -> Health:
    if state == "failed":
        return Health(False, state, STATE_REASONS["failed"])
    return Health(True, state)


def check_readiness(
    state: str,
    in_flight: int,
    oldest_in_flight_age: float,
    stats: PipelineStats,
    stall_window: float,
    now: float | None = None,
) -> Readiness:
    """Ready, or not ready with every reason why; ``now`` is on ``stats.clock``."""
    now = stats.clock() if now is None else now
    reasons: list[str] = []
    if state != "running":
        reasons.append(STATE_REASONS.get(state, f"{state}: the pipeline is not running"))
    if state not in ("stopped", "failed") and stats.connected is False:
        reasons.append("producer not connected: " + "; ".join(stats.disconnected_reasons()))
    if state in ("running", "draining"):
        stall = _stall(in_flight, oldest_in_flight_age, stats, stall_window, now)
        if stall:
            reasons.append(stall)
    return Readiness(not reasons, state, tuple(reasons))


def _stall(
    in_flight: int, oldest_age: float, stats: PipelineStats, window: float, now: float
) -> str:
    backlog = stats.backlog_total
    pending_for = oldest_age if in_flight > 0 else 0.0
    if backlog > 0 and stats.backlog_since is not None:
        pending_for = max(pending_for, now - stats.backlog_since)
    if pending_for <= window:
        return ""
    progress_age = stats.progress_age(now)
    if progress_age is not None and progress_age <= window:
        return ""
    since = (
        "nothing acknowledged yet"
        if progress_age is None
        else (f"nothing acknowledged for {progress_age:.1f}s")
    )
    waiting = []
    if in_flight > 0:
        waiting.append(f"{in_flight} messages in flight (the oldest for {oldest_age:.1f}s)")
    if backlog > 0:
        waiting.append(f"{backlog} waiting in the broker")
    return f"stalled: {since} while {' and '.join(waiting)}; stall window {window:g}s"
