"""Dropped acks counted by outcome, and summed per outage."""

from __future__ import annotations

from broadway_py import Decision, Message
from broadway_py.acknowledger import Failed, NoopAcknowledger
from broadway_py.connectors.rabbitmq.dropped import DroppedAcks


def test_dropped_acks_add_up_by_outcome() -> None:
    total = DroppedAcks(successful=2)
    other = DroppedAcks()
    failed = []
    for decision in (
        Decision.retry(1),
        Decision.retry(0),
        Decision.dead_letter(),
        Decision.discard(),
    ):
        message = Message(b"x", NoopAcknowledger()).failed("boom")
        message.decision = decision
        failed.append(message)
    other.add_failed(Failed.of(failed))
    total.add(other)
    assert (total.successful, total.retried, total.dead_lettered, total.discarded) == (2, 2, 1, 1)
    assert total.count == 6
    assert total.describe() == "2 successful, 2 retried, 1 dead-lettered, 1 discarded"
    assert DroppedAcks(retried=3).describe() == "3 retried"
    assert DroppedAcks().describe() == "none"
