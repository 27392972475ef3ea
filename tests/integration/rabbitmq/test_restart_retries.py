"""Retries waiting in delay queues survive a node restart (issue 12, in small).

A pipeline consumes a quorum (or a classic) queue of JSON messages; the handler fails every
5th id once and every 17th id always; retries wait in the delay queues. The
private node is stopped and started while those retries wait. Afterwards the
broker must hold nothing but the dead letters, which are exactly the
always-failing ids, and every other id must have been handled.

Before the fix the delay queues were classic queues, which dead-letter an
expired message at most once: what expired while the node came back up was
dropped, and this test counted those ids as lost.
"""

from __future__ import annotations

import json
import time
from collections import Counter

import pytest

from broadway_py import Message, RetryPolicy
from broadway_py.connectors.rabbitmq import RabbitMQProducer
from broadway_py.telemetry import ProducerConnected
from tests.broker_scripts import RabbitMQNode
from tests.integration.rabbitmq.support import Broker, pipeline_on
from tests.support import wait_until

pytestmark = pytest.mark.rabbitmq

COUNT = 300
DELAY = 6.0  # longer than a node stop takes, so retries still wait when it goes down
PATIENCE = 60.0


def fails_always(ident: int) -> bool:
    return ident % 17 == 0


def fails_once(ident: int) -> bool:
    return ident % 5 == 0 and not fails_always(ident)


@pytest.mark.parametrize("queue_type", ["quorum", "classic"])
async def test_retries_waiting_in_delay_queues_survive_a_node_restart(
    private_node: RabbitMQNode, private_broker: Broker, queue_type: str
) -> None:
    broker = private_broker
    queue = broker.name(f"survive.{queue_type}")
    await broker.declare(queue, **{"x-queue-type": queue_type})
    await broker.publish(queue, [json.dumps({"id": i}).encode() for i in range(COUNT)])
    handled: Counter[int] = Counter()  # successful deliveries per id
    failed_before: set[int] = set()

    def handle(message: Message) -> Message:
        ident = json.loads(message.data)["id"]
        if fails_always(ident) or (fails_once(ident) and ident not in failed_before):
            failed_before.add(ident)
            raise RuntimeError(f"injected failure of {ident}")
        handled[ident] += 1
        return message

    pipeline, events = pipeline_on(
        private_node,
        queue,
        handle,
        declare={"durable": True, "arguments": {"x-queue-type": queue_type}},
        retry=RetryPolicy(max_attempts=3, min_delay=DELAY, max_delay=DELAY, jitter=0),
    )
    always = {i for i in range(COUNT) if fails_always(i)}
    should_succeed = set(range(COUNT)) - always
    delay_prefix = f"{queue}.delay"
    dead_letter_queue = f"{queue}.dlq"
    first_failures = sum(1 for i in range(COUNT) if fails_once(i) or fails_always(i))

    async def waiting() -> int:
        depths = await broker.depths()
        return sum(ready for name, (ready, _) in depths.items() if name.startswith(delay_prefix))

    async with pipeline:
        (producer,) = pipeline.producers
        assert isinstance(producer, RabbitMQProducer)

        async def all_first_failures_wait() -> bool:
            return await waiting() == first_failures

        await wait_until(all_first_failures_wait, PATIENCE, "every first failure to wait")
        await private_node.stop()
        await private_node.start()
        await broker.reconnect()
        await wait_until(
            lambda: events.of(ProducerConnected)[-1].connected, PATIENCE, "a reconnect"
        )
        assert producer.connects >= 2

        last: tuple[int, ...] = ()
        changed_at = time.monotonic()

        async def settled() -> bool:
            # Done, or nothing moved for longer than two retry delays (what is lost stays lost).
            nonlocal last, changed_at
            depths = await broker.depths()
            held = sum(
                ready + unacked
                for name, (ready, unacked) in depths.items()
                if name.startswith(queue) and name != dead_letter_queue
            )
            dead = depths.get(dead_letter_queue, (0, 0))[0]
            now = (len(handled), dead, held)
            if now != last:
                last, changed_at = now, time.monotonic()
            if len(handled) == len(should_succeed) and dead >= len(always) and held == 0:
                return True
            return held == 0 and time.monotonic() - changed_at > 2 * DELAY + 2

        await wait_until(settled, PATIENCE, "every message handled or lost", interval=0.5)

    dead = Counter(json.loads(body)["id"] for body in await broker.read(dead_letter_queue))
    lost = sorted((should_succeed - set(handled)) | (always - set(dead)))
    duplicated = sorted(i for i, n in (handled + dead).items() if n > 1)
    print(
        f"restart with retries waiting ({queue_type} source queue): lost {len(lost)} {lost[:20]}, "
        f"duplicated {len(duplicated)}, dead-lettered {sum(dead.values())} "
        f"({len(always)} always failing)"
    )
    depths = await broker.depths()
    assert all(
        ready + unacked == 0
        for name, (ready, unacked) in depths.items()
        if name.startswith(queue) and name != dead_letter_queue
    ), depths
    assert lost == [], f"{len(lost)} ids lost across the restart"
    assert set(dead) == always, "the dead-letter queue holds exactly the always-failing ids"
    assert set(handled) == should_succeed
