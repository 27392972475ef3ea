"""The terminator of a traced pipeline: every message's span ends where the message does.

Built instead of a plain :class:`~broadway_py.topology.terminator.Terminator`
only when the pipeline has a tracer (:func:`terminator_for`), so an untraced
pipeline runs the terminator as it is. Before the messages are acknowledged,
a message that has no span yet (it failed before a processor took it) gets
one, so its copies carry a context too; once they are acknowledged (or the
acknowledger raised), each span ends with the message's outcome and decision.
"""

from __future__ import annotations

from collections.abc import Sequence

from broadway_py.message import Message
from broadway_py.retry import RetryPolicy
from broadway_py.telemetry import Telemetry
from broadway_py.topology.callbacks import Callbacks
from broadway_py.topology.in_flight import InFlight
from broadway_py.topology.terminator import Terminator
from broadway_py.tracer import MessageTracer


class TracedTerminator(Terminator):
    """A terminator that ends each message's span once the message is acknowledged."""

    tracer: MessageTracer

    async def finish(
        self, successful: Sequence[Message], failed: Sequence[Message], stage: str
    ) -> None:
        tracer = self.tracer
        tracer.begin(_untraced(successful, failed))
        try:
            await super().finish(successful, failed, stage)
        finally:
            tracer.end(successful)
            # handle_failed may have replaced the failed messages: end them as they came.
            tracer.end(failed)

    async def finish_group(self, successful: list[Message], stage: str) -> None:
        tracer = self.tracer
        tracer.begin(_untraced(successful, ()))
        try:
            await super().finish_group(successful, stage)
        finally:
            tracer.end(successful)


def _untraced(successful: Sequence[Message], failed: Sequence[Message]) -> list[Message]:
    return [m for group in (successful, failed) for m in group if m.trace is None]


def terminator_for(
    policy: RetryPolicy,
    callbacks: Callbacks,
    in_flight: InFlight,
    telemetry: Telemetry,
    tracer: MessageTracer | None,
) -> Terminator:
    """The run's terminator: a plain one, or a :class:`TracedTerminator` given a tracer."""
    if tracer is None:
        return Terminator(policy, callbacks, in_flight, telemetry)
    traced = TracedTerminator(policy, callbacks, in_flight, telemetry)
    traced.tracer = tracer
    return traced
