"""The Acknowledger protocol, grouping of acks, and the noop / caller ackers.

A connector's acknowledger receives the final outcome of its messages:
``successful`` ones, and the ``failed`` ones as a :class:`Failed`: the same
messages, also sorted by the retry policy's decision (retry with a delay,
dead_letter or discard), each beside its :class:`~broadway_py.retry.Decision`.
Core decides every failed message before any acknowledger sees it, so a
connector never asks whether a decision was made, nor sorts by it. The
pipeline calls ``ack`` once per (acknowledger, ack_ref) group, and
acknowledges each message exactly once. :class:`Outcomes` counts messages by
the outcome they were acknowledged with: the one tally that the pipeline's
reports and the connectors' counters share.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from broadway_py.message import OK, Message

if TYPE_CHECKING:
    from broadway_py.retry import Decision

Decided = tuple[Message, "Decision"]
"""A failed message beside its decision (the same as ``message.decision``)."""


class Failed(tuple[Message, ...]):
    """The failed messages of one ack call, in order, and sorted by decision kind.

    As a sequence it is every failed message, in the order its stage finished
    them; ``retry``, ``dead_letter`` and ``discard`` hold the same messages by
    the kind of their decision, each paired with that decision, so that the
    acknowledger reads a delay or a reason with no check for a missing one.
    Made once per ack group, and only when something failed: acks of
    successes alone get :data:`NO_FAILURES`.
    """

    retry: Sequence[Decided]
    dead_letter: Sequence[Decided]
    discard: Sequence[Decided]

    @staticmethod
    def of(messages: Iterable[Message]) -> Failed:
        """Sort decided messages; a failed message without a decision is a bug in core."""
        failed = Failed(messages)
        retry: list[Decided] = []
        dead_letter: list[Decided] = []
        discard: list[Decided] = []
        for message in failed:
            decision = message.decision
            if decision is None:
                raise ValueError(f"{message!r} failed without a decision")
            kind = decision.kind
            group = retry if kind == "retry" else dead_letter if kind == "dead_letter" else discard
            group.append((message, decision))
        failed.retry, failed.dead_letter, failed.discard = retry, dead_letter, discard
        return failed


NO_FAILURES = Failed()
"""The ``failed`` of every ack call in which nothing failed: shared, so immutable."""
NO_FAILURES.retry = NO_FAILURES.dead_letter = NO_FAILURES.discard = ()


@dataclass(slots=True)
class Outcomes:
    """Messages counted by the outcome they were acknowledged with.

    ``successful``, then the failed ones by the kind of their decision: the
    split that ``MessagesAcked`` and ``AcksDropped`` report, and that the
    connectors count what they carried out (or dropped) by.
    """

    successful: int = 0
    retried: int = 0
    dead_lettered: int = 0
    discarded: int = 0

    @property
    def count(self) -> int:
        return self.successful + self.retried + self.dead_lettered + self.discarded

    def add_failed(self, failed: Failed) -> None:
        self.retried += len(failed.retry)
        self.dead_lettered += len(failed.dead_letter)
        self.discarded += len(failed.discard)

    def add(self, other: Outcomes) -> None:
        self.successful += other.successful
        self.retried += other.retried
        self.dead_lettered += other.dead_lettered
        self.discarded += other.discarded

    def describe(self) -> str:
        """``12 successful, 3 retried`` (outcomes with a count only)."""
        parts = [
            f"{n} {name}"
            for name, n in (
                ("successful", self.successful),
                ("retried", self.retried),
                ("dead-lettered", self.dead_lettered),
                ("discarded", self.discarded),
            )
            if n
        ]
        return ", ".join(parts) or "none"


def count_decisions(failed: Iterable[Message]) -> tuple[int, int, int]:
    """``(retried, dead_lettered, discarded)`` among failed messages that core decided.

    For a connector that reports some of the failed messages it was handed (Kafka's
    dropped acks) as ``AcksDropped``.
    """
    outcomes = Outcomes()
    outcomes.add_failed(failed if isinstance(failed, Failed) else Failed.of(failed))
    return outcomes.retried, outcomes.dead_lettered, outcomes.discarded


@runtime_checkable
class Acknowledger(Protocol):
    """What a connector implements to learn the outcome of its messages."""

    async def ack(self, ack_ref: Hashable, successful: Sequence[Message], failed: Failed) -> None:
        """Carry out the outcomes: ``failed`` comes sorted by decision (see :class:`Failed`)."""
        ...


AckGroup = tuple[Acknowledger, Hashable, list[Message], list[Message]]


def group_acks(successful: Sequence[Message], failed: Sequence[Message]) -> list[AckGroup]:
    """Group messages by (acknowledger, ack_ref), keeping their order in each group."""
    first = successful[0] if successful else (failed[0] if failed else None)
    if first is None:
        return []
    # Fast path: one producer, one ref (the common case) needs no dictionary.
    if _share_one_group(first, successful) and _share_one_group(first, failed):
        return [(first.acknowledger, first.ack_ref, list(successful), list(failed))]
    groups: dict[tuple[int, Hashable], AckGroup] = {}
    _sort_into(groups, successful, failed=False)
    _sort_into(groups, failed, failed=True)
    return list(groups.values())


def all_ok_in_one_group(messages: Sequence[Message]) -> bool:
    """Whether ``messages`` all succeeded and share the first one's ack group.

    One pass, for every batch: the usual case, acked with no sorting at all.
    """
    if not messages:
        return False
    first = messages[0]
    acknowledger, ack_ref = first.acknowledger, first.ack_ref
    for message in messages:
        status = message.status
        if (
            (status is not OK and not status.ok)
            or message.acknowledger is not acknowledger
            or message.ack_ref != ack_ref
        ):
            return False
    return True


def _share_one_group(first: Message, messages: Sequence[Message]) -> bool:
    # A plain loop: quicker on CPython 3.11+ than chains of map/attrgetter.
    acknowledger, ack_ref = first.acknowledger, first.ack_ref
    for message in messages:
        if message.acknowledger is not acknowledger or message.ack_ref != ack_ref:
            return False
    return True


def _sort_into(
    groups: dict[tuple[int, Hashable], AckGroup], messages: Sequence[Message], *, failed: bool
) -> None:
    """Append each message to its group's successful (or ``failed``) list.

    Neighbours usually share a group (a connector's ack_ref is often one per
    fetched run): a message of the previous one's group skips the dictionary.
    """
    last_acknowledger: object = None  # no acknowledger: the first message looks its group up
    last_ref: object = None
    bucket: list[Message] = []
    for message in messages:
        acknowledger, ack_ref = message.acknowledger, message.ack_ref
        if acknowledger is not last_acknowledger or ack_ref is not last_ref:
            key = (id(acknowledger), ack_ref)
            group = groups.get(key)
            if group is None:
                group = groups[key] = (acknowledger, ack_ref, [], [])
            bucket = group[3] if failed else group[2]
            last_acknowledger, last_ref = acknowledger, ack_ref
        bucket.append(message)


class NoopAcknowledger:
    """Acknowledges nothing; for messages whose source needs no acks."""

    async def ack(self, ack_ref: Hashable, successful: Sequence[Message], failed: Failed) -> None:
        return None


NOOP_ACKNOWLEDGER = NoopAcknowledger()


class AckedOnReceive(NoopAcknowledger):
    """The acknowledger of a message already acknowledged when it was received.

    With ``acknowledge: on_receive`` the producer stage acks each chunk to its
    broker, then puts :func:`acked_on_receive` of the connector's acknowledger
    in its place: the pipeline's own ack of it is then a no-op, and the
    terminator knows a failure of it can no longer be retried nor dead-lettered.
    ``replaced`` is the connector's acknowledger: which connector delivered the
    message stays known (several producers route by each one's ordering key).
    """

    __slots__ = ("replaced",)

    def __init__(self, replaced: Acknowledger) -> None:
        self.replaced = replaced


_ACKED_ON_RECEIVE: dict[int, AckedOnReceive] = {}


def acked_on_receive(replaced: Acknowledger) -> AckedOnReceive:
    """The one marker standing in for ``replaced`` (one per producer instance)."""
    marker = _ACKED_ON_RECEIVE.get(id(replaced))
    if marker is None or marker.replaced is not replaced:
        if len(_ACKED_ON_RECEIVE) >= 10_000:  # producers come and go with restarts: bounded
            _ACKED_ON_RECEIVE.clear()
        marker = _ACKED_ON_RECEIVE[id(replaced)] = AckedOnReceive(replaced)
    return marker


class CallerAcknowledger:
    """Resolves a future per message when it is acked: used by ``test_message``."""

    def __init__(self) -> None:
        self._waiting: dict[int, asyncio.Future[Message]] = {}

    def expect(self, message: Message) -> asyncio.Future[Message]:
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._waiting[id(message)] = future
        return future

    async def ack(self, ack_ref: Hashable, successful: Sequence[Message], failed: Failed) -> None:
        for messages in (successful, failed):
            for message in messages:
                future = self._waiting.pop(id(message), None)
                if future is not None and not future.done():
                    future.set_result(message)
