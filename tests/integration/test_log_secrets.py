"""No secret reaches the logs or the HTTP port, whatever the client library logs at DEBUG.

Real clients against the shared brokers: aiobotocore against the SQS server
(botocore prints every request's headers at DEBUG, the session token among
them), aio-pika refused by RabbitMQ (the exception is logged with its
traceback), and ``broadway-py run`` at DEBUG with AWS credentials in its
environment and the admin token set.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import re
import signal
import sys
import textwrap
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from aiobotocore.session import get_session  # type: ignore[import-untyped, unused-ignore]

from broadway_py.service.logs import configure_logging
from tests.support import wait_until

SQS_ENDPOINT = os.environ.get("BROADWAY_SQS_ENDPOINT", "http://127.0.0.1:35000")
RABBITMQ_URL = os.environ.get("BROADWAY_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:35672/")
REGION = "us-east-1"

KEY_ID = "ASIAQWERTYUIOPASDFGH"
SECRET_KEY = "vT9kQ2xL7mN4pR8sW1zY6bC3dF5gH0jK/EXAMPLE"
TOKEN = "IQoJb3JpZ2luX2VjEXAMPLEsessionTOKEN/with+base64=="
ADMIN_TOKEN = "admin-bearer-Zx81-EXAMPLE"
AMQP_PASSWORD = "Amqp-Pa55word-EXAMPLE"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """DEBUG logging set up as ``broadway-py run`` does, into a string; undone after."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stream = io.StringIO()
    # env={}: no literal secrets known, so the shapes alone must hide them.
    configure_logging("DEBUG", "plain", stream=stream, env={})
    try:
        yield stream
    finally:
        for handler in list(root.handlers):
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(level)


@pytest.mark.sqs
async def test_botocore_debug_records_carry_no_aws_secret(captured: io.StringIO) -> None:
    session = get_session()
    async with session.create_client(
        "sqs",
        region_name=REGION,
        endpoint_url=SQS_ENDPOINT,
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET_KEY,
        aws_session_token=TOKEN,
    ) as client:
        url = (await client.create_queue(QueueName=f"log-secrets-{time.monotonic_ns()}"))[
            "QueueUrl"
        ]
        try:
            await client.send_message(QueueUrl=url, MessageBody="hello")
            received = await client.receive_message(QueueUrl=url, WaitTimeSeconds=0)
            assert len(received["Messages"]) == 1
        finally:
            await client.delete_queue(QueueUrl=url)
    text = captured.getvalue()
    # botocore did log the signed requests (else this test would prove nothing) ...
    assert "X-Amz-Security-Token" in text
    assert "x-amz-security-token:<redacted>" in text
    # ... and none of the credentials came out.
    for secret in (TOKEN, SECRET_KEY, KEY_ID):
        assert secret not in text
    assert urllib.parse.quote(TOKEN, safe="") not in text


@pytest.mark.rabbitmq
async def test_a_refused_amqp_connection_logs_no_password(captured: io.StringIO) -> None:
    import aio_pika

    parts = urllib.parse.urlsplit(RABBITMQ_URL)
    host = parts.netloc.rpartition("@")[2]
    wrong = urllib.parse.urlunsplit(parts._replace(netloc=f"guest:{AMQP_PASSWORD}@{host}"))
    log = logging.getLogger("broadway_py.test")
    log.debug("connecting to %s", wrong)
    try:
        await aio_pika.connect(wrong, timeout=10)
    except aio_pika.exceptions.ProbableAuthenticationError as error:
        log.exception("could not connect to %s: %r", wrong, error)
    else:
        pytest.fail("RabbitMQ accepted a wrong password")
    text = captured.getvalue()
    assert "ProbableAuthenticationError" in text  # the traceback was written
    assert f"could not connect to amqp://guest:<redacted>@{host}" in text
    assert AMQP_PASSWORD not in text


HANDLER = """
def handle(message):
    return message
"""


@pytest.mark.sqs
async def test_the_service_at_debug_prints_no_secret(tmp_path: Path) -> None:
    queue = f"log-secrets-service-{time.monotonic_ns()}"
    async with get_session().create_client(
        "sqs",
        region_name=REGION,
        endpoint_url=SQS_ENDPOINT,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ) as client:
        url = (await client.create_queue(QueueName=queue))["QueueUrl"]
        try:
            await client.send_message(QueueUrl=url, MessageBody='{"n": 1}')
            await _run_service_and_check(tmp_path, queue)
        finally:
            await client.delete_queue(QueueUrl=url)


async def _run_service_and_check(folder: Path, queue: str) -> None:
    (folder / "secrets_handlers.py").write_text(HANDLER)
    (folder / "sqs.yaml").write_text(
        textwrap.dedent(
            f"""
            name: secrets
            handler: secrets_handlers:handle
            producer:
              sqs:
                queue_name: {queue}
                region: {REGION}
                endpoint_url: {SQS_ENDPOINT}
                wait_time_seconds: 1
            http: {{port: 0, admin: true}}
            logging: {{level: DEBUG}}
            """
        )
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        "AWS_ACCESS_KEY_ID": KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_SESSION_TOKEN": TOKEN,
        "AWS_DEFAULT_REGION": REGION,
        "BROADWAY_ADMIN_TOKEN": ADMIN_TOKEN,
        "PYTHONUNBUFFERED": "1",
    }
    log_file = folder / "stderr.log"
    with log_file.open("wb") as sink:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "broadway_py", "run", "sqs.yaml"),
            cwd=folder,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=sink,
            env=env,
        )
    try:
        await wait_until(lambda: _port(log_file) is not None, 30, "the HTTP port in the log")
        base = f"http://127.0.0.1:{_port(log_file)}"
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            await wait_until(lambda: _acked(http, base), 30, "the message to be acked")
            async with http.get(base + "/status") as response:
                status = await response.text()
            async with http.post(base + "/admin/rate_limit", json={}) as response:
                assert response.status == 401  # BROADWAY_ADMIN_TOKEN is set
            headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
            async with http.post(base + "/admin/rate_limit", json={}, headers=headers) as response:
                assert response.status in (400, 409)  # authorised; nothing to change
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 30) == 0, log_file.read_text()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    err = log_file.read_text(errors="replace")
    assert "X-Amz-Security-Token" in err  # botocore logged its signed requests at DEBUG
    for secret in (TOKEN, SECRET_KEY, KEY_ID, ADMIN_TOKEN):
        assert secret not in err
        assert secret not in status


def _port(log_file: Path) -> int | None:
    found = re.search(r"serving /metrics.* on http://127\.0\.0\.1:(\d+)", log_file.read_text())
    return int(found[1]) if found else None


async def _acked(http: aiohttp.ClientSession, base: str) -> bool:
    async with http.get(base + "/status") as response:
        body = await response.json()
    return bool(body["counters"]["acked"].get("successful"))
