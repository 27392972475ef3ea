"""The tracing seam: what a pipeline calls when it is given a tracer. Stdlib only.

A pipeline has no tracer unless it is given one (``Pipeline(..., tracer=...)``
or a pipeline file's ``tracing: {enabled: true}``). Without one nothing here
runs: the stages check ``tracer is None`` once per chunk or batch, and a
message's ``trace`` slot stays None.

With one, the stages call it at three places:

- a processor, when it takes a chunk: :meth:`MessageTracer.begin` starts one
  span per message (its parent read from the message's broker headers) and
  sets ``message.trace``;
- the terminator, wherever a message ends (see
  :mod:`broadway_py.topology.tracing`): :meth:`~MessageTracer.begin` for a
  message that never reached a processor, then, once it is acknowledged,
  :meth:`~MessageTracer.end` with its outcome and decision;
- a batch processor, around ``handle_batch``: :meth:`~MessageTracer.begin_batch`
  and :meth:`~MessageTracer.end_batch`, a span linked to its messages' spans.

A connector that writes a copy of a message (a retry or a dead letter) adds
:func:`copy_context` to the copy's headers, so the next attempt's span is a
child of this attempt's. The OpenTelemetry implementation is
:mod:`broadway_py.otel` (the ``otel`` extra); core never imports it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from broadway_py.message import BatchInfo, Message

NO_CONTEXT: Mapping[str, str] = {}


class MessageTrace(Protocol):
    """What a message carries while its span is open."""

    @property
    def headers(self) -> Mapping[str, str]:
        """The context to write into a copy of the message (``traceparent``, ...)."""
        ...


class BatchTrace(Protocol):
    """An open batch span (opaque to core)."""


class MessageTracer(Protocol):
    """Traces the messages of one pipeline; see the module's docstring."""

    def begin(self, messages: Iterable[Message]) -> None:
        """Start a span for each message whose ``trace`` is None, and set it."""
        ...

    def end(self, messages: Iterable[Message]) -> None:
        """End each message's span with its outcome and decision; ``trace`` stays set."""
        ...

    def begin_batch(self, info: BatchInfo, messages: Sequence[Message]) -> BatchTrace:
        """Start the span of a batch, linked to its messages' spans."""
        ...

    def end_batch(self, opened: BatchTrace, messages: Sequence[Message]) -> None:
        """End a batch's span, with how many of its messages failed."""
        ...


def copy_context(message: Message) -> Mapping[str, str]:
    """The trace context to add to a copy of ``message`` (none when it is not traced)."""
    trace = message.trace
    return NO_CONTEXT if trace is None else trace.headers
