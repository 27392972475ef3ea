"""The SQS connector (aiobotocore): receive, delete in batches, heartbeat, dead letters.

Per the connector convention: :class:`Options`, :func:`producer_factory` and
:func:`ordering_key`. See docs/sqs.md.
"""

from __future__ import annotations

from collections.abc import Callable

from broadway_py.connectors.sqs.acknowledger import SqsAcknowledger
from broadway_py.connectors.sqs.fifo import message_group_id, ordering_key
from broadway_py.connectors.sqs.ledger import Stats
from broadway_py.connectors.sqs.options import Options
from broadway_py.connectors.sqs.producer import SqsProducer
from broadway_py.producer import Producer

DEAD_LETTER_OPTION = "dead_letter"
"""The Options field that a pipeline file's ``dead_letter.destination`` fills in."""


def producer_factory(options: Options, *, demand: int) -> Callable[[], Producer]:
    """One :class:`SqsProducer` (with its own client) per producer stage.

    ``demand`` is the pipeline's processors.concurrency * processors.max_demand;
    it sizes how many ReceiveMessage calls may be in flight at once.
    """

    def make() -> Producer:
        return SqsProducer(options, demand=demand)

    return make


__all__ = [
    "DEAD_LETTER_OPTION",
    "Options",
    "SqsAcknowledger",
    "SqsProducer",
    "Stats",
    "message_group_id",
    "ordering_key",
    "producer_factory",
]
