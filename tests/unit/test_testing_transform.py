"""test_message / test_batch run the producer's transform, as a delivered message meets it."""

from __future__ import annotations

import json

from broadway_py import Handler, Message, Pipeline, ProducerOptions, RetryPolicy
from broadway_py.connectors.memory import MemoryProducer
from broadway_py.errors import DecodeError

RETRY = RetryPolicy(max_attempts=3, min_delay=0, max_delay=0, jitter=0)


class Seen(Handler):
    def __init__(self) -> None:
        self.data: list[object] = []

    def handle_message(self, message: Message) -> Message:
        self.data.append(message.data)
        return message


def pipeline(handler: Handler, transformer: object) -> Pipeline:
    return Pipeline(
        "t",
        handler,
        ProducerOptions(MemoryProducer.factory("unused"), transformer=transformer),  # type: ignore[arg-type]
        retry=RETRY,
    )


async def test_a_transformer_that_changes_data_is_applied_before_the_handler() -> None:
    handler = Seen()
    async with pipeline(handler, lambda m: m.put_data(json.loads(m.data))) as p:
        acked = await p.test_message(b'{"id": 1}')
    assert handler.data == [{"id": 1}]
    assert acked.status.ok
    assert acked.data == {"id": 1}


async def test_a_transformer_returning_a_new_message_is_still_answered() -> None:
    def replace(message: Message) -> Message:
        return Message(message.data * 2, message.acknowledger, metadata=message.metadata)

    handler = Seen()
    async with pipeline(handler, replace) as p:
        acked = await p.test_batch([b"a", b"b"])
    assert sorted(handler.data) == [b"aa", b"bb"]  # type: ignore[type-var]
    assert [m.data for m in acked] == [b"aa", b"bb"]


async def test_a_raising_transformer_fails_that_message_by_the_retry_policy() -> None:
    def transform(message: Message) -> Message:
        if message.data == b"bad":
            raise ValueError("cannot transform")
        return message.put_data(message.data.upper())

    handler = Seen()
    async with pipeline(handler, transform) as p:
        good, bad, other = await p.test_batch([b"ok", b"bad", b"fine"])
    assert handler.data == [b"OK", b"FINE"]  # the failed one never reached the handler
    assert good.status.ok
    assert other.status.ok
    assert not bad.status.ok
    assert bad.status.reason == "ValueError: cannot transform"
    assert bad.decision is not None
    assert bad.decision.kind == "retry"  # attempt 1 of 3: retried, as in production
    assert p.in_flight.count == 0


async def test_a_poison_message_from_the_transform_is_dead_lettered() -> None:
    def decode(message: Message) -> Message:
        raise DecodeError("payload is not valid JSON")

    handler = Seen()
    async with pipeline(handler, decode) as p:
        acked = await p.test_message(b"{oops")
    assert handler.data == []
    assert acked.decision is not None
    assert acked.decision.kind == "dead_letter"
    assert acked.status.reason is not None
    assert "payload is not valid JSON" in acked.status.reason
