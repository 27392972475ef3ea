"""What a connector provides to run the contract suite against itself.

Each connector adds ``tests/contract/harness_<name>.py`` defining ``HARNESS``,
a :class:`ConnectorHarness` subclass. ``conftest.py`` finds every such module
and runs ``test_contract.py`` once per harness, against the real broker.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence

from broadway_py import ProducerOptions


class ConnectorHarness(abc.ABC):
    """A fresh source (queue / topic) and its dead-letter destination on one broker."""

    #: Short name, used as the pytest id.
    name: str = "?"
    #: Seconds a test may wait for outcomes that travel through the broker.
    patience: float = 30.0
    #: The smallest retry delay this broker honours well (the suite uses it).
    retry_delay: float = 0.0

    @abc.abstractmethod
    async def setup(self) -> None:
        """Create a new, empty source and dead-letter destination with unique names."""

    @abc.abstractmethod
    async def teardown(self) -> None:
        """Delete what setup created and close clients."""

    @abc.abstractmethod
    async def publish(self, payloads: Sequence[bytes]) -> None:
        """Put these payloads into the source, in this order."""

    @abc.abstractmethod
    def producer_options(self, concurrency: int = 1) -> ProducerOptions:
        """Producer options that consume the source (new producers on each call)."""

    @abc.abstractmethod
    async def dead_lettered(self) -> list[bytes]:
        """The payloads now in the dead-letter destination."""

    @abc.abstractmethod
    async def remaining(self) -> int:
        """Messages the source still holds that were not acknowledged (ready or unacked)."""
