"""Property: over random topologies, failures and crashes, every message ends once.

Each message ends exactly once as acked, dead-lettered or discarded, as the
retry policy says; none is lost; no ack is stale (applied twice); and, where
``partition_by`` is set and nothing failed or crashed, per-key order holds
through processors and batchers.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broadway_py import (
    BatcherOptions,
    BatchInfo,
    Handler,
    Message,
    Pipeline,
    ProcessorOptions,
    ProducerOptions,
    RetryPolicy,
    SupervisorOptions,
)
from broadway_py.connectors.memory import MemoryBroker, MemoryProducer
from tests.support import CrashingProducer

MAX_ATTEMPTS = 10  # above failures (<= 2) plus crashes (<= 4): only "always" runs out
KEYS = "abcd"


@dataclass(frozen=True)
class Plan:
    processors: int
    max_demand: int
    partitioned: bool
    batchers: tuple[tuple[int, int], ...]  # (batch_size, concurrency) per batcher
    failures: tuple[str, ...]  # per message: "ok" | "once" | "twice" | "always" | "poison"
    producer_crash_after: int | None
    ack_crashes: frozenset[int]
    dead_letter: bool


plans = st.integers(5, 40).flatmap(
    lambda n: st.builds(
        Plan,
        processors=st.integers(1, 4),
        max_demand=st.integers(1, 12),
        partitioned=st.booleans(),
        batchers=st.lists(
            st.tuples(st.integers(1, 8), st.integers(1, 3)), min_size=0, max_size=2
        ).map(tuple),
        failures=st.lists(
            st.sampled_from(["ok", "ok", "ok", "once", "twice", "always", "poison"]),
            min_size=n,
            max_size=n,
        ).map(tuple),
        producer_crash_after=st.none() | st.integers(0, n),
        ack_crashes=st.frozensets(st.integers(1, 6), max_size=2),
        dead_letter=st.booleans(),
    )
)


class Scripted(Handler):
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.order: dict[str, list[int]] = {}
        self.batched: dict[str, list[int]] = {}

    def handle_message(self, message: Message) -> Message:
        index, key = message.data
        self.order.setdefault(key, []).append(index)
        kind = self.plan.failures[index]
        if kind == "poison":
            raise KeyError("poison")
        if (
            kind == "always"
            or (kind == "once" and message.attempt < 2)
            or (kind == "twice" and message.attempt < 3)
        ):
            raise RuntimeError(kind)
        if self.plan.batchers:
            message.put_batcher(f"b{index % len(self.plan.batchers)}")
        return message

    def handle_batch(self, batcher: str, messages: list[Message], info: BatchInfo) -> None:
        for m in messages:
            self.batched.setdefault(m.data[1], []).append(m.data[0])


def expected(plan: Plan, index: int) -> str:
    kind = plan.failures[index]
    if kind in ("always", "poison"):
        return "dead_lettered" if plan.dead_letter else "discarded"
    return "acked"


async def run(plan: Plan) -> None:
    queue = MemoryBroker(record=True).queue("q")
    queue.push_many([(i, KEYS[i % len(KEYS)]) for i in range(len(plan.failures))])
    ack_calls = 0
    settle = queue.settle

    def settle_maybe_crash(successful: Any, failed: Any) -> None:
        nonlocal ack_calls
        settle(successful, failed)
        if successful:
            ack_calls += 1
            if ack_calls in plan.ack_crashes:
                raise ConnectionError("injected ack crash")

    queue.settle = settle_maybe_crash  # type: ignore[method-assign]

    def make_producer() -> Any:
        inner = MemoryProducer(queue)
        if plan.producer_crash_after is None:
            return inner
        return CrashingProducer(inner, plan.producer_crash_after, crashes=1)

    key = (lambda m: m.data[1]) if plan.partitioned else None
    handler = Scripted(plan)
    pipeline = Pipeline(
        "property",
        handler,
        ProducerOptions(make_producer),
        ProcessorOptions(concurrency=plan.processors, max_demand=plan.max_demand, partition_by=key),
        [
            BatcherOptions(
                f"b{i}", batch_size=size, batch_timeout=0.01, concurrency=conc, partition_by=key
            )
            for i, (size, conc) in enumerate(plan.batchers)
        ],
        retry=RetryPolicy(
            max_attempts=MAX_ATTEMPTS,
            min_delay=0,
            max_delay=0,
            jitter=0,
            never_retry=(KeyError,),
            dead_letter=plan.dead_letter,
        ),
        supervisor=SupervisorOptions(max_restarts=20, max_seconds=60),
    )
    async with pipeline:
        await queue.wait_idle(20)

    assert queue.outcomes is not None
    outcomes = queue.outcomes.by_id
    assert sorted(outcomes) == list(range(1, len(plan.failures) + 1)), "a message was lost"
    for entry_id, history in outcomes.items():
        *before, last = history
        assert all(o == "retried" for o in before), (entry_id, history)
        kind = plan.failures[entry_id - 1]
        assert last == expected(plan, entry_id - 1), (entry_id, history, kind)
    assert queue.stats.stale_acks == 0
    assert len(queue.dead_letters) == sum(o[-1] == "dead_lettered" for o in outcomes.values())
    assert len(pipeline.in_flight) == 0

    calm = set(plan.failures) == {"ok"} and not pipeline.restarts
    if plan.partitioned and calm:
        for k, seen in handler.order.items():
            assert seen == sorted(seen), f"processor order broken for key {k}"
        for k, seen in handler.batched.items():
            assert seen == sorted(seen), f"batch order broken for key {k}"


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(plans)
def test_every_message_ends_exactly_once_as_the_policy_says(plan: Plan) -> None:
    asyncio.run(asyncio.wait_for(run(plan), 30))
