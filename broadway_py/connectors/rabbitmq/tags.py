"""Delivery tags still unacknowledged on a channel, and how to settle them. Pure.

``basic.ack(multiple=True)`` on tag *T* acknowledges *every* unacknowledged
delivery up to *T* on the channel, including messages still being processed
elsewhere in the pipeline. So a run of tags is acked with one frame only when
no tag below its top is still outstanding: :meth:`DeliveryTracker.settle`
acks every tag below the lowest still-outstanding one with a single
``multiple`` frame, and the others one by one.
"""

from __future__ import annotations

from collections.abc import Iterable

AckFrame = tuple[int, bool, int]
"""(delivery tag, multiple, how many messages the frame settles)."""


class DeliveryTracker:
    """The outstanding deliveries of one channel: tag -> time received (loop clock)."""

    __slots__ = ("_held", "_low", "_top", "_warned")

    def __init__(self) -> None:
        self._held: dict[int, float] = {}
        self._low = 1  # no outstanding tag is below this
        self._top = 0  # the highest tag received
        self._warned = 0  # tags up to this were reported overdue

    def __len__(self) -> int:
        return len(self._held)

    def __contains__(self, tag: int) -> bool:
        return tag in self._held

    def add(self, tag: int, received_at: float) -> None:
        """Record a delivery; tags arrive in increasing order on a channel."""
        self._held[tag] = received_at
        if tag > self._top:
            self._top = tag

    def lowest(self) -> int | None:
        """The lowest outstanding tag, or None."""
        held = self._held
        low = self._low
        top = self._top
        while low <= top and low not in held:
            low += 1
        self._low = low
        return low if low <= top else None

    def forget(self, tags: Iterable[int]) -> int:
        """Settle ``tags`` by other means (reject / nack); returns how many were held."""
        held = self._held
        return sum(1 for tag in tags if held.pop(tag, None) is not None)

    def settle(self, tags: Iterable[int]) -> tuple[list[AckFrame], int]:
        """The ack frames that settle ``tags``, and how many of them were not outstanding.

        Tags not outstanding (settled before, or never delivered here) are left
        out: acking one would close the channel.
        """
        held = self._held
        acked: list[int] = []
        unknown = 0
        for tag in tags:
            if held.pop(tag, None) is None:
                unknown += 1
            else:
                acked.append(tag)
        if not acked:
            return [], unknown
        acked.sort()
        lowest = self.lowest()
        if lowest is None:
            below = len(acked)
        else:
            below = 0
            for tag in acked:
                if tag >= lowest:
                    break
                below += 1
        frames: list[AckFrame] = []
        if below == 1:
            frames.append((acked[0], False, 1))
        elif below > 1:
            frames.append((acked[below - 1], True, below))
        frames.extend((tag, False, 1) for tag in acked[below:])
        return frames, unknown

    def overdue(self, now: float, limit: float) -> list[tuple[int, float]]:
        """Tags held longer than ``limit`` seconds and not reported before, with their age."""
        found: list[tuple[int, float]] = []
        warned = self._warned
        for tag, received_at in self._held.items():
            age = now - received_at
            if age < limit:
                break  # insertion order is arrival order: the rest are younger
            if tag > warned:
                found.append((tag, age))
        if found:
            self._warned = found[-1][0]
        return found

    def clear(self) -> int:
        """Forget every delivery (the channel is gone); returns how many there were."""
        count = len(self._held)
        self._held.clear()
        self._low = self._top + 1
        return count
