"""The Producer protocol: a connector's source of messages.

The pipeline drives a producer in this order: ``start`` (connect), then
``fetch`` over and over, each call asking for at most ``demand`` messages;
on drain ``stop_fetching`` (which must wake a pending ``fetch``), and after
every in-flight message was acknowledged, ``close`` (commit, leave, release
what was never acknowledged so the broker redelivers it).

A producer never holds more than it was asked for plus its own broker
prefetch, so the pipeline's demand bounds the memory the service uses.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from broadway_py.message import Message
from broadway_py.telemetry import Telemetry


@runtime_checkable
class Producer(Protocol):
    """What a connector implements to feed a pipeline."""

    async def start(self, telemetry: Telemetry) -> None:
        """Connect. Connectors report ``ProducerConnected`` events on ``telemetry``.

        ``telemetry`` is this producer's own view of the pipeline's hub
        (``Telemetry.for_producer``): what the producer reports there
        (connection, backlog, lag, dropped acks) is stamped with its index, so
        with ``producer.concurrency`` above 1 no producer's state hides another's.
        """
        ...

    async def fetch(self, demand: int) -> list[Message]:
        """Wait for and return between 1 and ``demand`` messages.

        Returns an empty list only once fetching has been stopped.
        """
        ...

    def stop_fetching(self) -> None:
        """Stop fetching: a pending ``fetch`` returns what it has, or ``[]``."""
        ...

    async def close(self) -> None:
        """Release the connection; un-acked messages go back to the broker."""
        ...


ProducerFactory = Callable[[], Producer]
