"""A broker restart in the middle of the stream, with retries waiting, on private brokers.

Each broker is stopped and started again once a third of the workload is
handled and the broker holds failed messages waiting for their retry (every
fifth id fails once, every seventeenth always). The retry delays of these
cases (5-6 s) outlast the stop, so those retries wait in the broker across
the restart. What was acknowledged stays acknowledged; what was not, including
the retries waiting in the broker, must come back.

- RabbitMQ: a private node, restarted with scripts/brokers/rabbitmq.sh
  (its data directory is kept); the source is a quorum queue, retries wait
  in the connector's delay queues.
- Kafka: a private Tansu storing on S3 (a private moto_server), restarted
  alone: the one durable Kafka-protocol broker these machines can run (this
  Tansu build has no PostgreSQL engine). Retries wait in the retry topic.
- SQS: skipped. moto_server keeps its state in memory only (its recorder
  replays requests, it does not restore queues), so a restart empties every
  queue; the proxy cases (test_proxy.py) cover SQS connection faults instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import pytest

from tests.broker_scripts import PrivateKafka, private_rabbitmq
from tests.fault.adapter import Adapter
from tests.fault.adapter_kafka import KafkaAdapter
from tests.fault.adapter_rabbitmq import RabbitMQAdapter
from tests.fault.brokers import COUNTS
from tests.fault.scenario import PATIENCE, Scenario, interrupted
from tests.fault.service import Service
from tests.support import wait_until

pytestmark = pytest.mark.fault

# Retry delays longer than a broker stop takes, so that retries still wait in
# the broker while it is down and while it comes back (with the suite's usual
# 0.2-1 s they expire before the node has even stopped).
RESTART_RETRY = {"min_delay": 5.0, "max_delay": 6.0}

SQS_SKIP = (
    "moto_server keeps SQS state in memory only (no persistence option in moto 5.2.5; "
    "its recorder replays requests, it does not restore state): a restart loses every "
    "queue, so no SQS restart case can be judged here; test_proxy.py covers SQS "
    "connection faults"
)


class PrivateBroker(Protocol):
    async def start(self) -> None: ...

    async def restart(self) -> None: ...

    async def stop(self) -> None: ...


async def restart_mid_stream(broker: PrivateBroker, adapter: Adapter, folder: Path) -> None:
    """Start ``broker``, seed, and restart it once retries wait on it; then stop it."""

    async def restart(scenario: Scenario, service: Service) -> Service:
        waiting = 0

        async def retries_waiting() -> bool:
            nonlocal waiting
            waiting = await adapter.retries_waiting()
            return waiting > 0

        await wait_until(retries_waiting, PATIENCE, "retries waiting on the broker", 0.05)
        pending = scenario.records().retries_pending()
        await broker.restart()
        print(
            f"{scenario.case}: restart began with {waiting} retries waiting on the broker, "
            f"{len(pending)} ids waiting for their retry"
        )
        return service

    try:
        await broker.start()
        try:
            await adapter.seed()
            at = adapter.count // 3
            await interrupted(adapter, folder, "broker-restart", restart, at, RESTART_RETRY)
        finally:
            await adapter.close()
    finally:
        await broker.stop()


@pytest.mark.rabbitmq
async def test_rabbitmq_restart_with_retries_pending_loses_nothing(tmp_path: Path) -> None:
    node = private_rabbitmq(tmp_path)
    await restart_mid_stream(node, RabbitMQAdapter(COUNTS["rabbitmq"], node), tmp_path)


@pytest.mark.kafka
async def test_durable_kafka_restart_with_retries_pending_loses_nothing(tmp_path: Path) -> None:
    kafka = PrivateKafka(tmp_path, durable=True)
    adapter = KafkaAdapter(COUNTS["kafka"], bootstrap=kafka.bootstrap)
    await restart_mid_stream(kafka, adapter, tmp_path)


@pytest.mark.sqs
def test_sqs_restart() -> None:
    pytest.skip(SQS_SKIP)
