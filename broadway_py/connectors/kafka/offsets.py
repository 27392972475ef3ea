"""Which offsets may be committed: per partition, per group generation. Pure; no I/O.

A consumer commits, for each partition, the offset of the next message the
group should read. That may only move past a message once it is *done*
(acknowledged: processed, retried elsewhere, dead-lettered or discarded), and
messages finish out of order, so each partition keeps the offsets delivered
and not yet done, each with the *epoch* it was delivered in, in delivery order
(ascending: Kafka offsets have gaps, compaction and transaction markers, but
never go back within a delivery run).

The commit point is the first pending offset, or one past the last delivered
offset when nothing is pending. ``rewind(offset)`` forgets every delivery from
``offset`` on and starts a new epoch (the partition will be read again from
there): a late ack of an older delivery of those offsets no longer counts.

Each assignment of a partition gets a new :class:`PartitionOffsets`, tagged
with the tracker's generation. When the partition is revoked its object dies,
and acks that arrive for it afterwards are refused: they can never be
committed under the next generation.

Acks of the current epoch are marked done without a check of each offset's
epoch (see ``marker``): within one epoch every offset is delivered once, so
each offset of it still pending is pending under that epoch.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence


class PartitionOffsets:
    """The delivered, pending and committable offsets of one assigned partition."""

    __slots__ = (
        "_pending",
        "alive",
        "committed",
        "epoch",
        "generation",
        "key",
        "last_delivered",
        "revoking",
        "start",
    )

    def __init__(self, key: Hashable, generation: int) -> None:
        self.key = key
        self.generation = generation
        self.alive = True
        self.revoking = False
        self.epoch = 0
        #: offset -> the epoch it was delivered in, for the offsets not done yet. Keys are
        #: inserted in ascending order (see ``delivering`` and ``rewind``), so the first key is
        #: the lowest pending offset.
        self._pending: dict[int, int] = {}
        #: The highest offset delivered in this assignment (-1: none yet).
        self.last_delivered = -1
        #: The first offset delivered in this assignment (None: none yet). The commit
        #: point means something only once it moved past it.
        self.start: int | None = None
        #: The last offset committed to the broker (None: none in this assignment).
        self.committed: int | None = None

    # -- deliveries -------------------------------------------------------------------

    def stale_prefix(self, offsets: Sequence[int]) -> int:
        """How many leading offsets of a fetched run were delivered already (usually 0)."""
        last = self.last_delivered
        skip = 0
        while skip < len(offsets) and offsets[skip] <= last:
            skip += 1
        return skip

    def delivering(self, first: int, last: int) -> tuple[dict[int, int], int]:
        """For the hot path: record a run of ascending offsets from ``first`` to ``last``.

        Returns the pending map and the epoch: the caller sets ``pending[offset] =
        epoch`` for every offset of the run, in order, before anything else touches
        this object. ``first`` must be above the last offset delivered (see
        ``stale_prefix``).
        """
        if self.start is None:
            self.start = first
        self.last_delivered = last
        return self._pending, self.epoch

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

    def marker(self, epoch: int) -> Callable[[int, None], int | None] | None:
        """For the ack hot path: ``mark(offset, None)`` marks done an offset of ``epoch``.

        Only while ``epoch`` is the current one of a live assignment (else None: use
        ``done``). Within it every offset is pending under that epoch, or done already:
        marking it again changes nothing.
        """
        return self._pending.pop if self.alive and epoch == self.epoch else None

    def rewind(self, offset: int) -> int:
        """Forget deliveries from ``offset`` on and start a new epoch; returns it.

        The partition is to be read again from ``offset``, so ``offset`` must be
        at or after the commit point; the next delivery may start there.
        """
        pending = self._pending
        forgotten = []
        for delivered in reversed(pending):
            if delivered < offset:
                break
            forgotten.append(delivered)
        for delivered in forgotten:
            del pending[delivered]
        self.last_delivered = offset - 1
        self.epoch += 1
        return self.epoch

    # -- what may be committed -------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Deliveries not yet done."""
        return len(self._pending)

    def low_water(self) -> int | None:
        """The first offset not yet done, delivered or not (for lag); None: nothing seen."""
        pending = self._pending
        if pending:
            return next(iter(pending))
        after = self.last_delivered + 1
        return after if self.start is not None and after > self.start else None

    def commit_point(self) -> int | None:
        """Where the group should resume: the first offset not done (None: nothing done yet).

        That is the first pending offset, or one past the last delivered when
        nothing is pending.
        """
        point = self.low_water()
        if point is None or self.start is None or point <= self.start:
            return None
        return point

    def to_commit(self) -> int | None:
        """The commit point when it is ahead of what was committed, else None."""
        point = self.commit_point()
        if point is None or (self.committed is not None and point <= self.committed):
            return None
        return point

    def mark_committed(self, offset: int) -> None:
        if self.committed is None or offset > self.committed:
            self.committed = offset

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

    def revoking(self) -> bool:
        """Whether a partition held is being revoked (its in-flight messages finishing)."""
        return any(offsets.revoking for offsets in self._live.values())

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
