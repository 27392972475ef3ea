"""Every way the processor runs a handler routes its results alike.

The loop in topology/processor_stage.py serves async and plain handlers, with
and without telemetry timing, and routes what a worker thread's calls
returned (``executor: thread``). Each of those ways must put the same message
in the same place: acked here, failed with the same reason, or handed to the
same batcher in the same order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from broadway_py import BatcherOptions, BatchInfo, Handler, Message, Pipeline, ProducerOptions
from broadway_py.acknowledger import NOOP_ACKNOWLEDGER
from broadway_py.connectors.memory import MemoryProducer
from broadway_py.topology.build import build_context
from broadway_py.topology.context import StageContext
from broadway_py.topology.processor_stage import Routed, _handle, _handle_in_thread

# One message for each way a result can go, in an order that switches batchers.
DATA = ["ok", "raise", "none", "fail", "db", "db", "s3", "db", "nope", "other", "s3", "number"]


def decide(message: Message) -> Any:
    """What a handler does with each datum of DATA."""
    data = message.data
    if data == "raise":
        raise ValueError("boom")
    if data == "none":
        return None
    if data == "fail":
        return message.failed("refused")
    if data in ("db", "s3", "nope"):
        return message.put_batcher(data)
    if data == "other":
        return Message("replaced", NOOP_ACKNOWLEDGER)
    if data == "number":
        return 42
    return message


async def decide_async(message: Message) -> Any:
    return decide(message)


class Batching(Handler):
    def handle_message(self, message: Message) -> Message:
        return message

    def handle_batch(self, batcher: str, messages: list[Message], info: BatchInfo) -> list[Message]:
        return messages


def context_with(batchers: list[str]) -> StageContext:
    pipeline = Pipeline(
        "routing",
        handler=Batching(),
        producer=ProducerOptions(MemoryProducer.factory("routing")),
        batchers=[BatcherOptions(name) for name in batchers],
    )
    return build_context(pipeline)


def chunk() -> list[Message]:
    messages = [Message(data, NOOP_ACKNOWLEDGER) for data in DATA]
    for i, message in enumerate(messages):
        message.received_at = float(i)
    return messages


def summary(routed: Routed) -> tuple[object, ...]:
    successful, failed, to_batchers, _ = routed
    return (
        [(m.data, m.received_at) for m in successful],
        [(m.data, m.status.reason, m.received_at) for m in failed],
        {name: [(m.data, m.received_at) for m in ms] for name, ms in to_batchers.items()},
    )


Way = Callable[[StageContext, bool], Awaitable[Routed]]

WAYS: dict[str, Way] = {
    "plain": lambda context, timed: _handle(chunk(), decide, False, context, timed),
    "async": lambda context, timed: _handle(chunk(), decide_async, True, context, timed),
    "thread": lambda context, timed: _handle_in_thread(chunk(), decide, context, timed),
}


@pytest.mark.parametrize("batchers", [["db", "s3"], ["default", "db", "s3"]])
def test_every_way_routes_alike(batchers: list[str]) -> None:
    context = context_with(batchers)

    async def route_all() -> dict[tuple[str, bool], Routed]:
        return {
            (name, timed): await way(context, timed)
            for name, way in WAYS.items()
            for timed in (False, True)
        }

    routes = asyncio.run(route_all())
    expected = summary(routes["plain", False])
    for (name, timed), routed in routes.items():
        assert summary(routed) == expected, (name, timed)
        assert len(routed[3]) == (len(DATA) if timed else 0), (name, timed)

    successful, failed, to_batchers = expected
    assert isinstance(successful, list)
    assert isinstance(failed, list)
    assert isinstance(to_batchers, dict)
    ok_place = to_batchers.get("default", successful) if "default" in batchers else successful
    assert [d for d, _ in ok_place] == ["ok", "replaced"]
    assert [(d, t) for d, _, t in failed] == [
        ("raise", 1.0),
        ("none", 2.0),
        ("fail", 3.0),
        ("nope", 8.0),
        ("number", 11.0),
    ]
    reasons = {d: r for d, r, _ in failed}
    assert "boom" in reasons["raise"]
    assert "did you forget `return message`" in reasons["none"]
    assert reasons["fail"] == "refused"
    assert "no such batcher" in reasons["nope"]
    assert "returned int" in reasons["number"]
    assert [t for _, t in to_batchers["db"]] == [4.0, 5.0, 7.0]
    assert [t for _, t in to_batchers["s3"]] == [6.0, 10.0]
    assert dict(ok_place)["replaced"] == 9.0  # a new message keeps its original's receipt time
