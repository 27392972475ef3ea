"""A progress line every N seconds while a pipeline runs (``--progress N``).

Counts come from telemetry events (received, and the outcomes the broker was
told, counted as the ``broadway_messages_acked_total`` metric counts them), so
the reporter costs one subscriber call per chunk, not per message. Each line
is logged by ``broadway_py.progress`` with the counts also as ``extra`` fields
(they become JSON fields with ``logging.format: json``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from broadway_py.metrics.stats import AckLedger
from broadway_py.pipeline import Pipeline
from broadway_py.telemetry import AcksDropped, Event, MessagesAcked, MessagesReceived

log = logging.getLogger("broadway_py.progress")


class Progress:
    """Counts telemetry events of one pipeline; :meth:`run` logs them periodically."""

    def __init__(self, pipeline: Pipeline, clock: Callable[[], float] = time.monotonic) -> None:
        self.pipeline = pipeline
        self.clock = clock
        self.received = 0
        self.acks = AckLedger()
        self.started = clock()
        self._last_time = self.started
        self._last_done = 0
        self._unsubscribe = pipeline.telemetry.subscribe(self.on_event)

    @property
    def done(self) -> int:
        """Messages whose outcome their broker was told."""
        return sum(self.acks.told.values())

    def on_event(self, event: Event) -> None:
        if isinstance(event, MessagesAcked):
            self.acks.handed(
                (event.successful, event.retried, event.dead_lettered, event.discarded)
            )
        elif isinstance(event, MessagesReceived):
            self.received += event.count
        elif isinstance(event, AcksDropped):
            self.acks.dropped(event)

    def line(self, final: bool = False) -> tuple[str, dict[str, float | int]]:
        now = self.clock()
        done = self.done
        if final:
            elapsed = max(now - self.started, 1e-9)
            rate = done / elapsed
        else:
            elapsed = max(now - self._last_time, 1e-9)
            rate = (done - self._last_done) / elapsed
        self._last_time, self._last_done = now, done
        told = self.acks.told
        fields: dict[str, float | int] = {
            "received": self.received,
            "ok": told["successful"],
            "retried": told["retried"],
            "dead_lettered": told["dead_lettered"],
            "discarded": told["discarded"],
            "in_flight": len(self.pipeline.in_flight),
            "rate": round(rate, 1),
        }
        text = (
            f"received {self.received}, acked ok {fields['ok']} / retried {fields['retried']} / "
            f"dead-lettered {fields['dead_lettered']} / discarded {fields['discarded']}, "
            f"in flight {fields['in_flight']}, {rate:.0f} msg/s"
        )
        if final:
            fields["seconds"] = round(now - self.started, 3)
            text = f"finished in {now - self.started:.1f}s: {text} on average"
        else:
            text = f"progress: {text}"
        return text, fields

    def report(self, final: bool = False) -> None:
        text, fields = self.line(final)
        # The counts are in the text already; plain logs skip them, JSON logs get fields.
        log.info("%s", text, extra={**fields, "_in_message": True})

    async def run(self, interval: float) -> None:
        """Log a line every ``interval`` seconds until cancelled."""
        while True:
            await asyncio.sleep(interval)
            self.report()

    def close(self) -> None:
        self._unsubscribe()
