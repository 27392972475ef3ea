"""What the fault scenarios need from a broker, and nothing more.

Why: the scenarios (scenario.py) are written once; each broker answers these
few questions in its own terms (adapter_rabbitmq.py, adapter_kafka.py,
adapter_sqs.py).
"""

from __future__ import annotations

from typing import Any, Protocol


class Adapter(Protocol):
    name: str
    count: int
    env: dict[str, str]

    async def seed(self) -> None:
        """Create the source (and dead-letter destination) and send ids 1..count."""

    def producer(self) -> dict[str, Any]:
        """The pipeline file's ``producer`` section."""

    def sections(self) -> dict[str, Any]:
        """Other sections of the pipeline file (``dead_letter``)."""

    async def dead_letters(self) -> list[int]:
        """Every id in the dead-letter destination so far, copies included."""

    async def left(self) -> int:
        """Messages of the source not finished: 0 when the source is empty
        (Kafka: the group's committed offsets are at the end of each partition)."""

    async def retries_waiting(self) -> int:
        """Failed messages the broker holds until their retry is due."""

    async def close(self) -> None:
        """Delete what ``seed`` made, close the test's own connections."""
