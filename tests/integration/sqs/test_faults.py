"""Faults: an endpoint unreachable at start or lost later, a missing queue, bad credentials."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from broadway_py import Message, ProcessorOptions, Telemetry
from broadway_py.connectors.sqs import Options, SqsProducer
from broadway_py.errors import AuthenticationFailed, DestinationNotFound
from broadway_py.telemetry import Event, ProducerConnected
from tests.fault.proxy import Proxy
from tests.integration.sqs.helpers import (
    ENDPOINT,
    Client,
    Queues,
    empty,
    pipeline_of,
    publish,
    unique,
)
from tests.ports import free_port
from tests.support import wait_until

pytestmark = pytest.mark.sqs

FAST_BACKOFF = {"reconnect_min_delay": 0.1, "reconnect_max_delay": 0.4}


def _connected_events(events: list[Event]) -> list[ProducerConnected]:
    return [e for e in events if isinstance(e, ProducerConnected)]


def _recording() -> tuple[Telemetry, list[Event]]:
    telemetry = Telemetry("sqs-faults")
    events: list[Event] = []
    telemetry.subscribe(events.append)
    return telemetry, events


@pytest.fixture
async def proxy() -> AsyncIterator[Proxy]:
    upstream = urlsplit(ENDPOINT)
    made = Proxy(upstream.hostname or "127.0.0.1", upstream.port or 80)
    await made.start()
    try:
        yield made
    finally:
        await made.stop()


def _endpoint(proxy: Proxy) -> str:
    return f"http://127.0.0.1:{proxy.port}"


async def test_unreachable_at_start_backs_off_and_stays_not_connected(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="broadway_py.connectors.sqs")
    telemetry, events = _recording()
    options = Options(
        queue_name="anything",
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        backlog_interval=0,
        **FAST_BACKOFF,  # type: ignore[arg-type]
    )
    pipeline = pipeline_of("sqs-unreachable", lambda m: m, options, telemetry=telemetry)
    await pipeline.start()  # does not raise: it keeps trying in the background
    assert pipeline.state == "running"
    await wait_until(lambda: len(_connected_events(events)) >= 4, 10, "four attempts")
    producer = pipeline.producers[0]
    assert isinstance(producer, SqsProducer)
    assert not producer.connected
    attempts = _connected_events(events)
    assert not any(e.connected for e in attempts)
    assert all("unreachable" in e.reason for e in attempts)
    lines = [r.getMessage() for r in caplog.records if "retrying in" in r.getMessage()]
    assert len(lines) >= 4
    assert "attempt 1 failed" in lines[0]
    assert "attempt 4 failed" in lines[3]
    started = time.monotonic()
    await pipeline.stop()
    assert time.monotonic() - started < 5.0


async def test_an_endpoint_that_comes_up_later_is_connected_to(
    sqs: Client, queues: Queues, proxy: Proxy
) -> None:
    url = await queues.create("late")
    sent = [f"late-{i}" for i in range(10)]
    await publish(sqs, url, sent)
    await proxy.stop()
    telemetry, events = _recording()
    seen: set[bytes] = set()

    def handle(message: Message) -> Message:
        seen.add(message.data)
        return message

    options = Options(
        queue_name=url.rsplit("/", 1)[1],
        endpoint_url=_endpoint(proxy),
        wait_time_seconds=1,
        backlog_interval=0,
        **FAST_BACKOFF,  # type: ignore[arg-type]
    )
    pipeline = pipeline_of("sqs-late", handle, options, telemetry=telemetry)
    async with pipeline:
        await wait_until(lambda: len(_connected_events(events)) >= 2, 10, "failed attempts")
        assert seen == set()
        await proxy.start()
        await wait_until(lambda: seen == {s.encode() for s in sent}, 30, "all handled")
        await wait_until(lambda: empty(sqs, url), 30, "the queue empty")
    states = [e.connected for e in _connected_events(events)]
    assert states[0] is False
    assert True in states


async def test_a_connection_lost_later_is_retried_and_nothing_is_lost(
    sqs: Client, queues: Queues, proxy: Proxy, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="broadway_py.connectors.sqs")
    url = await queues.create("lost", visibility_timeout=5)
    first = [f"before-{i:02d}" for i in range(30)]
    later = [f"during-{i:02d}" for i in range(20)]
    await publish(sqs, url, first)
    telemetry, events = _recording()
    seen: list[bytes] = []

    def handle(message: Message) -> Message:
        seen.append(message.data)
        return message

    options = Options(
        queue_url=url.replace(ENDPOINT, _endpoint(proxy)),
        endpoint_url=_endpoint(proxy),
        wait_time_seconds=1,
        backlog_interval=0,
        **FAST_BACKOFF,  # type: ignore[arg-type]
    )
    pipeline = pipeline_of(
        "sqs-lost",
        handle,
        options,
        processors=ProcessorOptions(concurrency=2, max_demand=5),
        telemetry=telemetry,
    )
    async with pipeline:
        await wait_until(lambda: len(set(seen)) == len(first), 30, "the first messages")
        await proxy.stop()
        await publish(sqs, url, later)  # straight to the server, not through the proxy
        await wait_until(
            lambda: sum(not e.connected for e in _connected_events(events)) >= 3,
            15,
            "failed attempts while cut off",
        )
        await proxy.start()
        await wait_until(lambda: len(set(seen)) == len(first) + len(later), 30, "all handled")
        await wait_until(lambda: empty(sqs, url), 30, "the queue empty")
    assert set(seen) == {s.encode() for s in first + later}
    states = [e.connected for e in _connected_events(events) if e.reason != "closed"]
    assert states[0] is True
    assert False in states
    assert states[-1] is True
    assert any("reachable again" in r.getMessage() for r in caplog.records)


async def test_a_missing_queue_fails_start_naming_it() -> None:
    name = unique("missing")
    options = Options(queue_name=name, endpoint_url=ENDPOINT, backlog_interval=0)
    pipeline = pipeline_of("sqs-missing", lambda m: m, options)
    with pytest.raises(DestinationNotFound, match=name):
        await pipeline.start()
    assert pipeline.state == "failed"


async def test_a_missing_dead_letter_queue_fails_start_naming_it(queues: Queues) -> None:
    url = await queues.create("has-no-dlq")
    missing = unique("missing-dlq")
    options = Options(queue_url=url, endpoint_url=ENDPOINT, dead_letter=missing)
    pipeline = pipeline_of("sqs-missing-dlq", lambda m: m, options)
    with pytest.raises(DestinationNotFound, match=f"{missing}.*dead-letter queue"):
        await pipeline.start()


@pytest.fixture(scope="module")
def checking_server() -> Iterator[str]:
    """A private moto server that checks credentials (the shared one accepts any)."""
    port = free_port()
    moto = Path(sys.executable).with_name("moto_server")
    env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT="0")
    process = subprocess.Popen(
        [str(moto), "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError as error:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        "the credential-checking moto server did not start"
                    ) from error
                time.sleep(0.05)  # sleep-ok: poll interval of a deadline-bounded wait
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


async def test_refused_credentials_fail_start_clearly(checking_server: str) -> None:
    options = Options(queue_name="orders", endpoint_url=checking_server, backlog_interval=0)
    pipeline = pipeline_of("sqs-credentials", lambda m: m, options)
    with pytest.raises(
        AuthenticationFailed, match=r"refused the credentials.*InvalidClientTokenId"
    ):
        await asyncio.wait_for(pipeline.start(), 30)
    assert pipeline.state == "failed"
