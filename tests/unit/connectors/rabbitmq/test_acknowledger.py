"""The acknowledger turns outcomes into broker operations (against a recording session)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiormq.abc import DeliveredMessage
from pamqp.commands import Basic
from pamqp.header import ContentHeader

from broadway_py import Decision, Message
from broadway_py.acknowledger import Failed
from broadway_py.connectors.rabbitmq import Options, RabbitMQAcknowledger
from broadway_py.connectors.rabbitmq.copies import REASON_HEADER
from broadway_py.connectors.rabbitmq.session import PublishFailed, Session

H = "x-broadway-attempt"


class FakeConnection:
    def __init__(self) -> None:
        self.close_callbacks: set[Any] = set()

    def add(self, callback: Any) -> None:
        self.close_callbacks.add(callback)


class RecordingSession(Session):
    """A Session whose broker operations are recorded instead of sent."""

    def __init__(self, options: Options, fail_publish: bool = False) -> None:
        super().__init__(options, FakeConnection(), 1)  # type: ignore[arg-type]
        self.published: list[tuple[str, bytes, Basic.Properties]] = []
        self.declared: list[tuple[str, dict[str, Any] | None]] = []
        self.settled: list[tuple[list[int], list[int], list[int]]] = []
        self.fail_publish = fail_publish

    async def declare_queue(
        self, name: str, arguments: dict[str, Any] | None, option: str = ""
    ) -> None:
        self.declared.append((name, arguments))

    async def publish(self, routing_key: str, body: bytes, properties: Basic.Properties) -> None:
        if self.fail_publish:
            raise PublishFailed("nacked")
        self.published.append((routing_key, body, properties))

    async def settle(
        self, acks: list[int], requeue: list[int], reject: list[int]
    ) -> tuple[int, str]:
        if not self.usable:
            return len(acks) + len(requeue) + len(reject), "session lost (test)"
        self.settled.append((sorted(acks), sorted(requeue), sorted(reject)))
        return 0, ""


def options(**fields: Any) -> Options:
    return Options.model_validate({"url": "amqp://g:g@h/", "queue": "q", **fields})


def delivered(tag: int, redelivered: bool = False, headers: dict[str, Any] | None = None) -> Any:
    return DeliveredMessage(
        delivery=Basic.Deliver(
            consumer_tag="c", delivery_tag=tag, redelivered=redelivered, routing_key="q"
        ),
        header=ContentHeader(properties=Basic.Properties(headers=headers, delivery_mode=2)),
        body=f"body-{tag}".encode(),
        channel=None,  # type: ignore[arg-type]
    )


def message(
    acker: RabbitMQAcknowledger,
    session: Session,
    tag: int,
    decision: Decision | None = None,
    attempt: int = 1,
    **delivery: Any,
) -> Message:
    m = Message(
        f"body-{tag}".encode(),
        acknowledger=acker,
        ack_ref=session,
        ack_data=delivered(tag, **delivery),
        attempt=attempt,
    )
    if decision is not None:
        m.failed(f"failure of {tag}")
        m.decision = decision
    return m


def setup(**fields: Any) -> tuple[RabbitMQAcknowledger, RecordingSession, list[tuple[int, str]]]:
    dropped: list[tuple[int, str]] = []
    opts = options(**fields)
    acker = RabbitMQAcknowledger(opts, lambda n, why: dropped.append((n, why)))
    return acker, RecordingSession(opts), dropped


async def test_each_decision_becomes_its_broker_operation() -> None:
    acker, session, dropped = setup()
    ok = [message(acker, session, t) for t in (1, 2)]
    failed = [
        message(acker, session, 3, Decision.retry(0.3), attempt=1),
        message(acker, session, 4, Decision.retry(0)),
        message(acker, session, 5, Decision.retry(0), attempt=2, redelivered=True),
        message(acker, session, 6, Decision.dead_letter("it broke"), attempt=3),
        message(acker, session, 7, Decision.discard()),
    ]
    await acker.ack(session, ok, Failed.of(failed))
    assert session.settled == [([1, 2, 3, 5, 6, 7], [4], [])]
    assert dropped == []
    by_queue = {queue: (body, props) for queue, body, props in session.published}
    assert set(by_queue) == {"q.delay.512ms", "q", "q.dlq"}
    body, props = by_queue["q.delay.512ms"]
    assert (body, props.expiration, (props.headers or {})[H]) == (b"body-3", "300", 2)
    assert session.declared == [
        ("q.delay.512ms", {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "q"})
    ]
    # retry(0) of a message a classic queue already redelivered: republished with its attempt
    body, props = by_queue["q"]
    assert (body, props.expiration, (props.headers or {})[H]) == (b"body-5", None, 3)
    body, props = by_queue["q.dlq"]
    assert (body, (props.headers or {})[REASON_HEADER]) == (b"body-6", "it broke")
    stats = acker.stats
    assert (stats.acked, stats.requeued, stats.delayed, stats.dead_lettered) == (6, 1, 1, 1)


async def test_retry_zero_on_a_quorum_queue_is_a_requeue() -> None:
    acker, session, _ = setup()
    m = message(
        acker,
        session,
        1,
        Decision.retry(0),
        attempt=3,
        redelivered=True,
        headers={"x-delivery-count": 2},
    )
    await acker.ack(session, [], Failed.of([m]))
    assert session.settled == [([], [1], [])]
    assert session.published == []


async def test_reject_strategy_leaves_dead_letters_to_the_queue_exchange() -> None:
    acker, session, _ = setup(dead_letter={"strategy": "reject"})
    await acker.ack(session, [], Failed.of([message(acker, session, 9, Decision.dead_letter("x"))]))
    assert session.settled == [([], [], [9])]
    assert session.published == []


async def test_a_copy_the_broker_did_not_take_is_requeued_not_acked() -> None:
    acker, session, _ = setup()
    session.fail_publish = True
    await acker.ack(
        session,
        [message(acker, session, 1)],
        Failed.of(
            [
                message(acker, session, 2, Decision.retry(1.0)),
                message(acker, session, 3, Decision.dead_letter("x")),
            ]
        ),
    )
    assert session.settled == [([1], [2, 3], [])]
    assert acker.stats.publish_failures == 2


async def test_fixed_actions_override_the_decision() -> None:
    acker, session, _ = setup(on_success="reject_and_requeue", on_failure="reject_and_requeue_once")
    await acker.ack(
        session,
        [message(acker, session, 1)],
        Failed.of(
            [
                message(acker, session, 2, Decision.dead_letter("x")),
                message(acker, session, 3, Decision.retry(5), redelivered=True),
            ]
        ),
    )
    assert session.settled == [([], [1, 2], [3])]
    assert session.published == []


async def test_acks_for_a_lost_session_are_dropped_and_counted() -> None:
    acker, session, dropped = setup()
    session.mark_lost("connection closed: reset")
    await acker.ack(
        session,
        [message(acker, session, 1), message(acker, session, 2)],
        Failed.of([message(acker, session, 3, Decision.retry(1.0))]),
    )
    assert dropped == [(3, "session lost (test)")]
    assert session.published == [], "nothing is republished for a session that is gone"
    assert acker.stats.dropped == 3


async def test_copies_are_published_concurrently() -> None:
    acker, session, _ = setup()
    in_flight = 0
    peak = 0

    async def slow_publish(routing_key: str, body: bytes, properties: Basic.Properties) -> None:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)  # sleep-ok: a slow publish, to overlap calls
        in_flight -= 1

    session.publish = slow_publish  # type: ignore[method-assign]
    await acker.ack(
        session,
        [],
        Failed.of([message(acker, session, t, Decision.retry(1.0)) for t in range(1, 11)]),
    )
    assert peak == 10
    assert session.settled == [(list(range(1, 11)), [], [])]
