"""The Acknowledger protocol, grouping of acks, and the noop / caller ackers.

A connector's acknowledger receives the final outcome of its messages:
``successful`` ones, and ``failed`` ones each carrying the retry policy's
``decision`` (retry with a delay, dead_letter or discard). The pipeline calls
``ack`` once per (acknowledger, ack_ref) group, and acknowledges each message
exactly once. :func:`count_decisions` is how failed messages are split by
outcome, by the pipeline's counts and by connectors reporting dropped acks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable, Iterable, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from broadway_py.message import OK, Message

if TYPE_CHECKING:
    from broadway_py.retry import DecisionKind


@runtime_checkable
class Acknowledger(Protocol):
    """What a connector implements to learn the outcome of its messages."""

    async def ack(
        self, ack_ref: Hashable, successful: Sequence[Message], failed: Sequence[Message]
    ) -> None:
        """Carry out the outcomes. Failed messages carry ``message.decision``."""
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


def decision_kind(message: Message) -> DecisionKind:
    """What is to be done with a failed message: its decision's kind (none yet: retry)."""
    decision = message.decision
    return decision.kind if decision is not None else "retry"


def count_decisions(failed: Iterable[Message]) -> tuple[int, int, int]:
    """``(retried, dead_lettered, discarded)``: failed messages counted by :func:`decision_kind`.

    The outcomes ``MessagesAcked`` and ``AcksDropped`` split failed messages into, so a
    connector's count of the acks it dropped matches what the stage said it handed over.
    """
    retried = dead_lettered = discarded = 0
    for message in failed:
        kind = decision_kind(message)
        if kind == "retry":
            retried += 1
        elif kind == "dead_letter":
            dead_lettered += 1
        else:
            discarded += 1
    return retried, dead_lettered, discarded


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

    async def ack(
        self, ack_ref: Hashable, successful: Sequence[Message], failed: Sequence[Message]
    ) -> None:
        return None


NOOP_ACKNOWLEDGER = NoopAcknowledger()


class CallerAcknowledger:
    """Resolves a future per message when it is acked: used by ``test_message``."""

    def __init__(self) -> None:
        self._waiting: dict[int, asyncio.Future[Message]] = {}

    def expect(self, message: Message) -> asyncio.Future[Message]:
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._waiting[id(message)] = future
        return future

    async def ack(
        self, ack_ref: Hashable, successful: Sequence[Message], failed: Sequence[Message]
    ) -> None:
        for messages in (successful, failed):
            for message in messages:
                future = self._waiting.pop(id(message), None)
                if future is not None and not future.done():
                    future.set_result(message)
