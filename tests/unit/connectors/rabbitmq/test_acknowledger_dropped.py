"""Acks dropped for a lost session are reported by outcome (see dropped.py)."""

from __future__ import annotations

from broadway_py import Decision
from broadway_py.acknowledger import Failed
from broadway_py.connectors.rabbitmq import RabbitMQAcknowledger
from broadway_py.connectors.rabbitmq.dropped import DroppedAcks
from broadway_py.connectors.rabbitmq.session import Session
from tests.unit.connectors.rabbitmq.test_acknowledger import RecordingSession, message, options


async def test_dropped_acks_are_reported_by_outcome_with_their_session() -> None:
    reported: list[tuple[Session, DroppedAcks, str]] = []
    opts = options()
    acker = RabbitMQAcknowledger(
        opts, lambda n, why: None, dropped_by=lambda s, d, why: reported.append((s, d, why))
    )
    session = RecordingSession(opts)
    session.pending = 5
    session.mark_lost("connection closed: reset")
    await acker.ack(
        session,
        [message(acker, session, 1), message(acker, session, 2)],
        Failed.of(
            [
                message(acker, session, 3, Decision.retry(1.0)),
                message(acker, session, 4, Decision.dead_letter("x")),
                message(acker, session, 5, Decision.discard()),
            ]
        ),
    )
    ((where, dropped, why),) = reported
    assert where is session
    assert dropped == DroppedAcks(successful=2, retried=1, dead_lettered=1, discarded=1)
    assert why == "session lost (test)"
    assert session.pending == 0, "the session counts what is still in the pipeline"
    assert session.published == []
    assert acker.stats.dropped == 5
