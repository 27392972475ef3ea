"""The consumer-group rebalance listener, handing revokes and assignments to the session.

aiokafka calls it from its coordination task: ``on_partitions_revoked`` before
the member rejoins (the group waits for it, up to ``rebalance_timeout_ms``),
``on_partitions_assigned`` once the new assignment is known.
"""

from __future__ import annotations

from collections.abc import Set
from typing import Any, Protocol

from aiokafka.abc import ConsumerRebalanceListener  # type: ignore[import-untyped]


class RebalanceTarget(Protocol):
    async def partitions_revoked(self, partitions: Set[Any]) -> None:
        """Stop feeding them, wait (bounded) for their in-flight messages, commit."""
        ...

    def partitions_assigned(self, partitions: Set[Any]) -> None:
        """Start tracking them under a new generation."""
        ...


class RebalanceListener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, target: RebalanceTarget) -> None:
        self.target = target

    async def on_partitions_revoked(self, revoked: Set[Any]) -> None:
        await self.target.partitions_revoked(revoked)

    async def on_partitions_assigned(self, assigned: Set[Any]) -> None:
        self.target.partitions_assigned(assigned)
