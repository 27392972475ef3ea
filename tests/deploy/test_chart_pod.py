"""The chart's pod run in the built image: every value set's Deployment, as rendered.

The container gets the rendered args, env, securityContext and ConfigMap
files (tests/deploy/pod.py translates them); its probes must answer, and
SIGTERM must end it with exit code 0 within the rendered grace period.

The broker-backed value sets run against the test's brokers on the host's
127.0.0.1 (host network; the HTTP port then moves to a free loopback port).
What a cluster would supply comes from here: the Secrets, the handler code
their own image would hold (tests/deploy/pod_app/), the queue or topic the
broker would hold, IRSA's credentials; and, where the file itself names a
cluster address (Kafka's bootstrap servers), a values overlay pointing there.
"""

from __future__ import annotations

import asyncio
import json
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aio_pika
import boto3
import pytest
import yaml
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tests.deploy.conftest import VALUE_SETS, render, values_args
from tests.deploy.container import Built, Container
from tests.deploy.pod import Pod, container_of, pod_of

ADMIN_TOKEN = "test-admin-token-4f1c"
RABBITMQ_URL = os.environ.get("BROADWAY_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:35672/")
KAFKA_BOOTSTRAP = os.environ.get("BROADWAY_KAFKA_BOOTSTRAP", "127.0.0.1:39092")
SQS_ENDPOINT = os.environ.get("BROADWAY_SQS_ENDPOINT", "http://127.0.0.1:35000")
SECRETS = {
    "broadway-admin": {"token": ADMIN_TOKEN},
    "rabbitmq-credentials": {"RABBITMQ_URL": RABBITMQ_URL},
    "kafka-credentials": {"password": "unused-by-the-test-broker"},
}
"""The Secrets a cluster would hold for the value sets run here (brokers: the test's)."""
APP = Path(__file__).parent / "pod_app"


@dataclass(frozen=True)
class Setup:
    """What a value set needs besides the chart: its image's code, its broker."""

    app: dict[str, Path] = field(default_factory=dict)
    """Packages its own image (built FROM broadway-py) would hold, mounted under /app."""
    broker: bool = False
    """Reaches a test broker on the host's 127.0.0.1 (host network)."""
    values: dict[str, Any] = field(default_factory=dict)
    """Values laid over the ci file: only where the file names a cluster address."""
    injected: dict[str, str] = field(default_factory=dict)
    """Environment the cluster would add (IRSA's credentials), here pointing at the test's."""


SETUPS = {
    "default": Setup(),
    "minimal-memory-values": Setup(),
    "admin-token-values": Setup(),
    # The broker URL comes from the Secret: the pod is run exactly as rendered.
    "rabbitmq-hpa-values": Setup(app={"mailer": APP / "mailer"}, broker=True),
    # The bootstrap address is written in the file: pointed at the test broker.
    "kafka-keda-values": Setup(
        app={"orders": APP / "orders"},
        broker=True,
        values={
            "pipeline": {
                "config": {"producer": {"kafka": {"bootstrap_servers": [KAFKA_BOOTSTRAP]}}}
            }
        },
    ),
    # IRSA would inject credentials; here static ones of the test's ElasticMQ, and the
    # SDK's own endpoint variable, since the file names the AWS queue URL.
    "sqs-keda-values": Setup(
        app={"invoices": APP / "invoices"},
        broker=True,
        injected={
            "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "test"),
            "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
            "AWS_ENDPOINT_URL_SQS": SQS_ENDPOINT,
        },
    ),
}


def test_every_value_set_is_run() -> None:
    assert set(SETUPS) == set(VALUE_SETS)


def _rabbitmq_queue(name: str, delete: bool = False) -> None:
    async def work() -> None:
        connection = await aio_pika.connect(RABBITMQ_URL)
        async with connection:
            channel = await connection.channel()
            if delete:
                await channel.queue_delete(name)
            else:
                await channel.declare_queue(name, durable=True)

    asyncio.run(work())


def _kafka_topic(name: str, delete: bool = False) -> None:
    async def work() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA_BOOTSTRAP)
        await admin.start()
        try:
            if delete:
                await admin.delete_topics([name])
            elif name not in await admin.list_topics():
                await admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])
        finally:
            await admin.close()

    asyncio.run(work())


def _sqs_queue(url: str, delete: bool = False) -> None:
    client = boto3.client("sqs", endpoint_url=SQS_ENDPOINT, region_name="eu-west-1")
    name = url.rstrip("/").rpartition("/")[2]
    if delete:
        client.delete_queue(QueueUrl=client.get_queue_url(QueueName=name)["QueueUrl"])
    else:
        client.create_queue(QueueName=name)


@contextmanager
def broker_holds(pipeline_text: str) -> Iterator[None]:
    """What the broker would hold already for the pipeline: its queue or topics."""
    producer = yaml.safe_load(pipeline_text)["producer"]
    undo: list[Callable[[], None]] = []
    try:
        if "rabbitmq" in producer:
            queue = producer["rabbitmq"]["queue"]
            _rabbitmq_queue(queue)
            undo.append(lambda: _rabbitmq_queue(queue, delete=True))
        for topic in producer.get("kafka", {}).get("topics", []):
            _kafka_topic(topic)
            undo.append(lambda topic=topic: _kafka_topic(topic, delete=True))
        if "sqs" in producer:
            url = producer["sqs"]["queue_url"]
            _sqs_queue(url)
            undo.append(lambda: _sqs_queue(url, delete=True))
        yield
    finally:
        for step in reversed(undo):
            step()


BROKER_MARKS = {
    "kafka-keda-values": pytest.mark.kafka,
    "rabbitmq-hpa-values": pytest.mark.rabbitmq,
    "sqs-keda-values": pytest.mark.sqs,
}

# The first test may build the image (minutes on a fresh machine).
pytestmark = [pytest.mark.timeout(900), pytest.mark.slow]


@pytest.fixture(
    params=[
        pytest.param(name, marks=[BROKER_MARKS[name]] if name in BROKER_MARKS else [])
        for name in SETUPS
    ]
)
def value_set(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def pod(value_set: str, tmp_path: Path) -> Pod:
    args = values_args(value_set)
    overlay = SETUPS[value_set].values
    if overlay:
        extra = tmp_path / "test-broker-values.yaml"
        extra.write_text(yaml.safe_dump(overlay))
        args += ["--values", str(extra)]
    return pod_of(render(*args))


@pytest.fixture
def running(pod: Pod, value_set: str, built: Built, tmp_path: Path) -> Iterator[Container]:
    setup = SETUPS[value_set]
    (data,) = pod.config_maps.values()
    workdir = tmp_path / "pod"
    workdir.mkdir()
    container = container_of(pod, built, workdir, SECRETS, setup.app, host_network=setup.broker)
    container.env |= setup.injected
    with broker_holds(data["pipeline.yaml"]):
        try:
            container.start()
            yield container
        finally:
            container.remove()


def test_the_pod_answers_its_probes_and_drains_on_sigterm(pod: Pod, running: Container) -> None:
    startup = pod.container["startupProbe"]
    budget = startup["periodSeconds"] * startup["failureThreshold"]
    assert startup["httpGet"]["port"] == "http"
    running.wait_http(startup["httpGet"]["path"], timeout=budget)
    running.wait_http(pod.container["readinessProbe"]["httpGet"]["path"], timeout=30)
    running.wait_http(pod.container["livenessProbe"]["httpGet"]["path"], timeout=10)
    assert "broadway_messages_received_total" in running.wait_http("/metrics")

    security = pod.pod_spec["securityContext"]
    ids = running.exec("python", "-c", "import os; print(os.getuid(), os.getgid())")
    assert ids.stdout.split() == [str(security["runAsUser"]), str(security["runAsGroup"])]
    write = running.exec("python", "-c", "open('/app/x', 'w')")
    assert "Read-only file system" in write.stderr

    exit_code, took = running.stop(pod.grace_seconds)
    logs = running.logs()
    assert exit_code == 0, logs[-3000:]
    assert took < pod.grace_seconds, f"{took:.1f}s: the grace period ran out (SIGKILL)"


@pytest.mark.parametrize("value_set", ["admin-token-values"])
def test_the_admin_token_reaches_the_container_from_its_secret(
    pod: Pod, running: Container
) -> None:
    running.wait_http("/healthz", timeout=60)
    # Compared inside the container: the token itself is never printed.
    same = running.exec(
        "python",
        "-c",
        f"import os; print(os.environ.get('BROADWAY_ADMIN_TOKEN') == {ADMIN_TOKEN!r})",
    )
    assert same.stdout.strip() == "True", same.stderr
    status = json.loads(running.wait_http("/status"))
    assert status["admin"] is True
    # The server asks for it: without the token an admin request is refused.
    request = urllib.request.Request(
        f"http://127.0.0.1:{running.port}/admin/rate_limit",
        data=b'{"allowed_messages": 10, "interval": 1}',
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 401
