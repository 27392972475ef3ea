"""Which offsets may be committed: per partition, per group generation. Pure; no I/O.

A consumer commits, for each partition, the offset of the next message the
group should read. That may only move past a message once it is *done*
(acknowledged: processed, retried elsewhere, dead-lettered or discarded), and
messages finish out of order, so each partition keeps:

- the offsets delivered and not yet passed by the commit point, in delivery
  order (Kafka offsets have gaps: compaction, transaction markers);
- which of them are still pending, each with the *epoch* it was delivered in.

The commit point is the first pending offset, or one past the last delivered
offset when nothing is pending. ``rewind(offset)`` forgets every delivery from
``offset`` on and starts a new epoch (the partition will be read again from
there): a late ack of an older delivery of those offsets no longer counts.

Each assignment of a partition gets a new :class:`PartitionOffsets`, tagged
with the tracker's generation. When the partition is revoked its object dies,
and acks that arrive for it afterwards are refused: they can never be
committed under the next generation.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Iterable, Sequence


class PartitionOffsets:
    """The delivered, pending and committable offsets of one assigned partition."""

    __slots__ = (
        "_order",
        "_pending",
        "alive",
        "committed",
        "epoch",
        "generation",
        "key",
        "last_delivered",
        "passed",
        "revoking",
    )

    def __init__(self, key: Hashable, generation: int) -> None:
        self.key = key
        self.generation = generation
        self.alive = True
        self.revoking = False
        self.epoch = 0
        self._order: deque[int] = deque()
        self._pending: dict[int, int] = {}
        #: The highest offset delivered in this assignment (-1: none yet).
        self.last_delivered = -1
        #: One past the last offset the commit point moved over (None: none yet).
        self.passed: int | None = None
        #: The last offset committed to the broker (None: none in this assignment).
        self.committed: int | None = None

    # -- deliveries -------------------------------------------------------------------

    def deliver(self, offsets: Sequence[int]) -> int:
        """Record a fetched run of ascending offsets; returns how many leading ones to skip.

        Offsets at or below the last one delivered (a fetch that raced a seek) are
        refused: the caller drops those records.
        """
        if not offsets:
            return 0
        last = self.last_delivered
        skip = 0
        if offsets[0] <= last:
            while skip < len(offsets) and offsets[skip] <= last:
                skip += 1
            offsets = offsets[skip:]
            if not offsets:
                return skip
        epoch = self.epoch
        self._order.extend(offsets)
        self._pending.update(dict.fromkeys(offsets, epoch))
        self.last_delivered = offsets[-1]
        return skip

    def is_current(self, offset: int, epoch: int) -> bool:
        """True if ``offset`` was delivered in ``epoch`` and is still pending."""
        return self.alive and self._pending.get(offset) == epoch

    def done(self, offset: int, epoch: int) -> bool:
        """Mark a delivery done; False when it is stale (revoked, rewound or already done)."""
        pending = self._pending
        if not self.alive or pending.get(offset) != epoch:
            return False
        del pending[offset]
        return True

    def done_many(self, offsets: list[int], epoch: int) -> int:
        """Mark deliveries of one epoch done; returns how many were stale."""
        if not self.alive:
            return len(offsets)
        pending = self._pending
        stale = 0
        for offset in offsets:
            if pending.get(offset) == epoch:
                del pending[offset]
            else:
                stale += 1
        return stale

    def advance(self) -> None:
        """Move the commit point over the done offsets at the head of the order."""
        order = self._order
        pending = self._pending
        passed = None
        while order and order[0] not in pending:
            passed = order.popleft()
        if passed is not None:
            self.passed = passed + 1

    def rewind(self, offset: int) -> int:
        """Forget deliveries from ``offset`` on and start a new epoch; returns it.

        The partition is to be read again from ``offset``, so ``offset`` must be
        at or after the commit point; the next delivery may start there.
        """
        order = self._order
        pending = self._pending
        while order and order[-1] >= offset:
            pending.pop(order.pop(), None)
        self.advance()
        self.last_delivered = offset - 1
        self.epoch += 1
        return self.epoch

    # -- what may be committed -------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Deliveries not yet done."""
        return len(self._pending)

    def commit_point(self) -> int | None:
        """Where the group should resume: the first offset not done (None: nothing done yet).

        That is the first pending offset, or one past the last delivered when
        nothing is pending.
        """
        self.advance()
        if self.passed is None:
            return None
        return self._order[0] if self._order else self.passed

    def to_commit(self) -> int | None:
        """The commit point when it is ahead of what was committed, else None."""
        point = self.commit_point()
        if point is None or (self.committed is not None and point <= self.committed):
            return None
        return point

    def mark_committed(self, offset: int) -> None:
        if self.committed is None or offset > self.committed:
            self.committed = offset

    def low_water(self) -> int | None:
        """The first offset not yet done, delivered or not (for lag); None: nothing seen."""
        self.advance()
        return self._order[0] if self._order else self.passed

    def __repr__(self) -> str:
        return (
            f"PartitionOffsets({self.key!r}, generation={self.generation}, epoch={self.epoch}, "
            f"pending={self.pending}, commit_point={self.commit_point()}, "
            f"committed={self.committed}, alive={self.alive})"
        )


class OffsetTracker:
    """Every partition one consumer holds, with the group generation it was assigned in."""

    def __init__(self) -> None:
        self.generation = 0
        self._live: dict[Hashable, PartitionOffsets] = {}

    def assign(self, keys: Iterable[Hashable]) -> list[PartitionOffsets]:
        """Start a new generation holding ``keys``; a key still held is replaced."""
        self.generation += 1
        made = []
        for key in keys:
            current = self._live.get(key)
            if current is not None:
                current.alive = False
            offsets = self._live[key] = PartitionOffsets(key, self.generation)
            made.append(offsets)
        return made

    def revoke(self, keys: Iterable[Hashable]) -> list[PartitionOffsets]:
        """Let go of ``keys``: their objects die, later acks for them are refused."""
        gone = []
        for key in keys:
            offsets = self._live.pop(key, None)
            if offsets is not None:
                offsets.alive = False
                gone.append(offsets)
        return gone

    def revoke_all(self) -> list[PartitionOffsets]:
        return self.revoke(list(self._live))

    def get(self, key: Hashable) -> PartitionOffsets | None:
        return self._live.get(key)

    def live(self) -> list[PartitionOffsets]:
        return list(self._live.values())

    def __len__(self) -> int:
        return len(self._live)

    def to_commit(
        self, partitions: Iterable[PartitionOffsets] | None = None
    ) -> dict[Hashable, int]:
        """``{key: offset}`` for every partition whose commit point moved ahead."""
        chosen = self._live.values() if partitions is None else partitions
        commits = {}
        for offsets in chosen:
            point = offsets.to_commit()
            if point is not None:
                commits[offsets.key] = point
        return commits
