"""The connection cut, stalled and reset in the middle of an ack, through a TCP proxy.

A proxy (proxy.py) sits between broadway-py and the broker. Once a third of
the workload is handled, the proxy is armed: the next chunk broadway-py sends
to the broker fires the fault before it is forwarded. On RabbitMQ that chunk
is a ``basic.ack`` or the publish of a retry / dead-letter copy; on Kafka a
fetch, a heartbeat, a commit or a publish to the retry / dead-letter topic;
on SQS a receive, a delete or a visibility change. Which one it hits is not
pinned down: the case proves that the fault at an arbitrary point of that
conversation loses nothing, not that one particular frame was hit.

- cut: both sides closed (FIN); the client reconnects through the proxy.
- reset: both sides torn down with an RST (SO_LINGER 0).
- stall: no byte either way for STALL seconds on every connection (new ones
  too), sockets open, then the bytes flow again: what was held arrives late.
  It outlasts the Kafka session timeout of these tests (2 s), so the group
  coordinator may evict the member (Tansu was not seen to); it is shorter
  than the RabbitMQ heartbeat timeout and the SQS client's read timeout,
  which then just wait.

Kafka needs a broker that advertises the proxy's address, so it runs on a
private Tansu (in memory); RabbitMQ and SQS use the shared brokers. The cut
case also checks the outage's logs: no traceback, a bounded number of lines.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from tests.broker_scripts import PrivateKafka
from tests.fault.adapter import Adapter
from tests.fault.adapter_kafka import KafkaAdapter
from tests.fault.adapter_rabbitmq import RabbitMQAdapter
from tests.fault.adapter_sqs import SqsAdapter
from tests.fault.brokers import BROKERS, COUNTS
from tests.fault.proxy import Fault, Proxy
from tests.fault.scenario import Scenario, interrupted
from tests.fault.service import Service
from tests.integration.rabbitmq.support import broker_port, url_via
from tests.integration.sqs.helpers import ENDPOINT
from tests.ports import free_port
from tests.support import wait_until

pytestmark = pytest.mark.fault

STALL = 5.0
# Log lines an outage may cost: a few per reconnect attempt, not one per message.
OUTAGE_LOG_LINES = 20


@asynccontextmanager
async def behind_proxy(broker: str, folder: Path) -> AsyncIterator[tuple[Adapter, Proxy]]:
    """A seeded adapter whose pipeline reaches its broker through a started proxy."""
    adapter: Adapter
    kafka: PrivateKafka | None = None
    if broker == "rabbitmq":
        proxy = Proxy("127.0.0.1", broker_port())
        adapter = RabbitMQAdapter(COUNTS[broker], pipeline_url=url_via(proxy.port))
    elif broker == "sqs":
        proxy = Proxy("127.0.0.1", urllib.parse.urlsplit(ENDPOINT).port or 80)
        adapter = SqsAdapter(COUNTS[broker], pipeline_endpoint=f"http://127.0.0.1:{proxy.port}")
    else:
        port = free_port()
        kafka = PrivateKafka(folder, advertised_port=port)
        proxy = Proxy("127.0.0.1", kafka.port, port=port)
        adapter = KafkaAdapter(COUNTS[broker], bootstrap=kafka.bootstrap)
    try:
        if kafka is not None:
            await kafka.start()
        await proxy.start()
        await adapter.seed()
        yield adapter, proxy
    finally:
        try:
            await adapter.close()
        finally:
            await proxy.stop()
            if kafka is not None:
                await kafka.stop()


@pytest.mark.parametrize("fault", ["cut", "stall", "reset"])
@pytest.mark.parametrize("broker", BROKERS)
async def test_connection_fault_mid_ack_loses_nothing(
    broker: str, fault: Fault, tmp_path: Path
) -> None:
    outage: list[str] = []
    faulted: list[Service] = []

    async def break_the_wire(scenario: Scenario, service: Service) -> Service:
        proxy.arm(fault)
        await wait_until(proxy.fired.is_set, 30, f"the {fault} to fire")
        lines_before = len(service.err().splitlines())
        if fault == "stall":
            await asyncio.sleep(STALL)  # sleep-ok: the length of the stall itself
            proxy.resume()
        await scenario.finished(service)
        outage.extend(service.err().splitlines()[lines_before:])
        faulted.append(service)
        return service

    async with behind_proxy(broker, tmp_path) as (adapter, proxy):
        outcome = await interrupted(
            adapter, tmp_path, f"proxy-{fault}", break_the_wire, at=adapter.count // 3
        )
        print(f"{outcome.case}: {len(outage)} log lines from the fault to the end")
        assert proxy.connections >= 1
        if fault == "cut":
            err = faulted[0].err()
            assert "Traceback" not in err, err[-3000:]
            assert len(outage) <= OUTAGE_LOG_LINES, "\n".join(outage)
