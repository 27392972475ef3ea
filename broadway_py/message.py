"""Message, its Status and the BatchInfo handed to ``handle_batch``.

A :class:`Message` is the unit every stage moves. It carries the payload
(``data``), what the broker said about it (``metadata``), its stable identity
(``id``: the same on every delivery of the message, None where the broker has
none; see docs/delivery.md, "Idempotent sinks"), how to acknowledge it
(``acknowledger``, ``ack_ref`` and the connector's private ``ack_data``), what
the user's code decided (``status``, ``batcher``, ``batch_key``,
``batch_mode``) and, once it failed, the retry policy's ``decision`` (None
until then; core sets it on every failed message before its acknowledger, which
reads it sorted by kind from :class:`~broadway_py.acknowledger.Failed`), and,
when the pipeline traces, its span (``trace``, see :mod:`broadway_py.tracer`).

The ``put_*`` and ``failed`` methods change the message in place and return it,
so a handler can write ``return message.put_batcher("s3").put_batch_key(k)``.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from broadway_py.acknowledger import Acknowledger
    from broadway_py.retry import Decision
    from broadway_py.tracer import MessageTrace

BatchMode = Literal["bulk", "flush"]
BatchTrigger = Literal["size", "bytes", "timeout", "flush", "drain"]


@dataclass(frozen=True, slots=True)
class Status:
    """``ok``, or failed with a ``reason`` and the ``exception`` that caused it."""

    ok: bool
    reason: str = ""
    exception: BaseException | None = None

    @staticmethod
    def failed(reason: str, exception: BaseException | None = None) -> Status:
        return Status(False, reason, exception)

    def __repr__(self) -> str:
        return "Status(ok)" if self.ok else f"Status(failed: {self.reason})"


OK = Status(True)


class Message:
    """One message on its way through a pipeline.

    Connectors on a hot path may pass every argument positionally (quicker):
    ``Message(data, acknowledger, ack_ref, ack_data, metadata, attempt, id)``.

    ``id`` is the message's identity at its broker, the same on every delivery
    of it (a redelivery, a retry): what an idempotent sink keys its writes on.
    Connectors set it (a string); None where the broker gives the message none.
    """

    __slots__ = (
        "ack_data",
        "ack_ref",
        "acknowledger",
        "attempt",
        "batch_key",
        "batch_mode",
        "batcher",
        "data",
        "decision",
        "id",
        "metadata",
        "received_at",
        "received_by",
        "status",
        "trace",
    )

    def __init__(
        self,
        data: Any,
        acknowledger: Acknowledger,
        ack_ref: Hashable = None,
        ack_data: Any = None,
        metadata: dict[str, Any] | None = None,
        attempt: int = 1,
        id: str | None = None,
    ) -> None:
        self.data: Any = data
        self.id: str | None = id
        self.metadata: dict[str, Any] = metadata if metadata is not None else {}
        self.acknowledger: Acknowledger = acknowledger
        self.ack_ref: Hashable = ack_ref
        self.ack_data: Any = ack_data
        self.attempt: int = attempt
        self.status: Status = OK
        self.batcher: str | None = None
        self.batch_key: Hashable = None
        self.batch_mode: BatchMode = "bulk"
        self.decision: Decision | None = None
        # Owned by the pipeline: when a producer stage received the message, and
        # which one (its instance index, as in ``producer_{index}``).
        self.received_at: float = 0.0
        self.received_by: int = 0
        # Owned by the pipeline's tracer, if it has one (broadway_py/tracer.py).
        self.trace: MessageTrace | None = None

    def replaces(self, message: Message) -> None:
        """Take over what the pipeline keeps of ``message``, which this message replaces.

        When a handler, a transformer or ``prepare_messages`` returns a new
        message in place of the one it was given, the pipeline still counts
        the new one from the same receipt (time and producer) and in the same
        trace span.
        """
        self.received_at = message.received_at
        self.received_by = message.received_by
        self.trace = message.trace

    def failed(self, reason: str | BaseException) -> Message:
        """Mark the message failed; the retry policy decides what happens next."""
        if isinstance(reason, BaseException):
            self.status = Status(False, describe_exception(reason), reason)
        else:
            self.status = Status(False, str(reason), None)
        return self

    def put_data(self, data: Any) -> Message:
        self.data = data
        return self

    def put_batcher(self, batcher: str) -> Message:
        """Route the message to the named batcher after ``handle_message``."""
        self.batcher = batcher
        return self

    def put_batch_key(self, batch_key: Hashable) -> Message:
        """Messages are batched together only when their batch keys are equal."""
        self.batch_key = batch_key
        return self

    def put_batch_mode(self, batch_mode: BatchMode) -> Message:
        """``flush`` closes the message's batch right after it is added."""
        if batch_mode not in ("bulk", "flush"):
            raise ValueError(f"batch_mode must be 'bulk' or 'flush', not {batch_mode!r}")
        self.batch_mode = batch_mode
        return self

    def __repr__(self) -> str:
        return (
            f"Message(data={self.data!r}, attempt={self.attempt}, status={self.status!r}"
            + (f", batcher={self.batcher!r}" if self.batcher else "")
            + (f", decision={self.decision!r}" if self.decision else "")
            + ")"
        )


def describe_exception(exception: BaseException) -> str:
    text = str(exception)
    name = type(exception).__name__
    return f"{name}: {text}" if text else name


@dataclass(frozen=True, slots=True)
class BatchInfo:
    """What ``handle_batch`` is told about the batch it receives."""

    batcher: str
    batch_key: Hashable
    size: int
    trigger: BatchTrigger
    partition: int = 0
