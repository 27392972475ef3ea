"""The HTTP port against a real pipeline on the memory broker."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from broadway_py import (
    Message,
    Pipeline,
    ProcessorOptions,
    ProducerOptions,
    RateLimitOptions,
    RetryPolicy,
    SupervisorOptions,
)
from broadway_py.connectors.memory import MemoryBroker, MemoryProducer, MemoryQueue
from broadway_py.metrics import Server, serve
from tests.support import CrashingProducer, Recorder, wait_until

STALL_WINDOW = 0.5


class Gated:
    """A handler that waits on ``gate`` for every message: clear it to stall."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.gate.set()

    async def __call__(self, message: Message) -> Message:
        await self.gate.wait()
        return message


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


async def get(client: aiohttp.ClientSession, server: Server, path: str) -> tuple[int, Any]:
    async with client.get(server.url + path) as response:
        if response.content_type == "application/json":
            return response.status, await response.json()
        return response.status, await response.text()


async def post(
    client: aiohttp.ClientSession, server: Server, path: str, body: Any
) -> tuple[int, Any]:
    async with client.post(server.url + path, json=body) as response:
        return response.status, await response.json(content_type=None)


def memory_pipeline(handler: Any, queue: MemoryQueue, **kwargs: Any) -> Pipeline:
    kwargs.setdefault("retry", RetryPolicy(max_attempts=2, min_delay=0, max_delay=0, jitter=0))
    return Pipeline("web", handler, ProducerOptions(MemoryProducer.factory(queue)), **kwargs)


async def test_every_endpoint_through_a_pipelines_life(client: aiohttp.ClientSession) -> None:
    handler = Gated()
    queue = MemoryBroker().queue("orders")
    pipeline = memory_pipeline(handler, queue, processors=ProcessorOptions(concurrency=2))
    server = await serve(pipeline, host="127.0.0.1", port=0, stall_window=STALL_WINDOW, admin=False)
    try:
        assert server.port > 0
        # Before start: alive, not ready ("starting").
        assert await get(client, server, "/healthz") == (200, {"alive": True, "state": "new"})
        status, body = await get(client, server, "/readyz")
        assert status == 503
        assert body["ready"] is False
        assert body["reasons"][0].startswith("starting")

        await pipeline.start()
        await wait_until(lambda: _ready(client, server), 10, "/readyz to turn 200")
        queue.push_many(range(100))
        await queue.wait_idle(10)

        # A stalled handler turns /readyz 503 with a stall reason ...
        handler.gate.clear()
        queue.push_many(range(100, 110))
        await wait_until(lambda: _not_ready(client, server), 10, "/readyz to turn 503")
        status, body = await get(client, server, "/readyz")
        assert status == 503
        (reason,) = body["reasons"]
        assert reason.startswith("stalled: nothing acknowledged for")
        assert "10 messages in flight" in reason
        assert (await get(client, server, "/healthz"))[0] == 200  # stalled is still alive

        status, text = await get(client, server, "/metrics")
        assert status == 200
        assert 'broadway_messages_in_flight{pipeline="web"} 10.0' in text
        assert 'broadway_messages_acked_total{outcome="successful",pipeline="web"} 100.0' in text

        # ... and back to 200 once it is released.
        handler.gate.set()
        await wait_until(lambda: _ready(client, server), 10, "/readyz to turn 200 again")
        await queue.wait_idle(10)

        status, body = await get(client, server, "/status")
        assert status == 200
        assert body["name"] == "web"
        assert body["state"] == "running"
        assert body["processors"]["concurrency"] == 2
        assert body["rate_limit"] is None
        assert body["ready"] is True
        assert body["not_ready_reasons"] == []
        assert body["connected"] is True
        connections = body["producer_connections"].values()
        assert connections
        assert all(c["connected"] is True for c in connections)
        assert body["backlog"] == {"orders": 0}
        assert isinstance(body["last_progress_age"], float)
        assert body["counters"]["received"] == 110
        assert body["counters"]["acked"]["successful"] == 110
        assert body["counters"]["processed"] == {"ok": 110, "failed": 0}
        assert set(body["stages"]) == {"producer_0", "processor_0", "processor_1"}
        assert body["stages"]["producer_0"]["received"] == 110
        assert sum(body["stages"][f"processor_{i}"]["ok"] for i in (0, 1)) == 110
        assert body["admin"] is False

        await pipeline.stop()
        status, body = await get(client, server, "/readyz")
        assert status == 503
        assert body["reasons"][0].startswith("stopped")
        assert (await get(client, server, "/healthz"))[0] == 200
    finally:
        handler.gate.set()
        await pipeline.stop()
        await server.close()


async def _ready(client: aiohttp.ClientSession, server: Server) -> bool:
    return (await get(client, server, "/readyz"))[0] == 200


async def _not_ready(client: aiohttp.ClientSession, server: Server) -> bool:
    return (await get(client, server, "/readyz"))[0] == 503


async def test_admin_endpoint_is_refused_unless_enabled(client: aiohttp.ClientSession) -> None:
    queue = MemoryBroker().queue("q")
    limited = memory_pipeline(Recorder(), queue, rate_limit=RateLimitOptions(100, 1.0))
    server = await serve(limited, host="127.0.0.1", port=0, stall_window=5, admin=False)
    try:
        body = {"allowed_messages": 5}
        status, answer = await post(client, server, "/admin/rate_limit", body)
        assert status == 403
        assert "disabled" in answer["error"]
        assert limited.rate_limiter is not None
        assert limited.rate_limiter.allowed_messages == 100
        async with client.get(server.url + "/admin/rate_limit") as response:
            assert response.status == 405
        for path in ("/metrics", "/healthz", "/readyz", "/status"):
            async with client.post(server.url + path) as response:
                assert response.status == 405, path
    finally:
        await server.close()


async def test_admin_endpoint_changes_the_rate_limit(client: aiohttp.ClientSession) -> None:
    queue = MemoryBroker().queue("q")
    limited = memory_pipeline(Recorder(), queue, rate_limit=RateLimitOptions(100, 1.0))
    unlimited = memory_pipeline(Recorder(), queue)
    server = await serve(limited, host="127.0.0.1", port=0, stall_window=5, admin=True)
    other = await serve(unlimited, host="127.0.0.1", port=0, stall_window=5, admin=True)
    try:
        await limited.start()
        status, answer = await post(
            client, server, "/admin/rate_limit", {"allowed_messages": 5, "interval": 0.5}
        )
        assert (status, answer) == (200, {"rate_limit": {"allowed_messages": 5, "interval": 0.5}})
        assert limited.rate_limiter is not None
        assert (limited.rate_limiter.allowed_messages, limited.rate_limiter.interval) == (5, 0.5)
        assert (await get(client, server, "/status"))[1]["rate_limit"] == {
            "allowed_messages": 5,
            "interval": 0.5,
        }
        for bad in ({"allowed_messages": 0}, {"interval": "fast"}, {"rate": 1}, {}, [1], "x"):
            status, answer = await post(client, server, "/admin/rate_limit", bad)
            assert status == 400, bad
            assert answer["error"]
        assert limited.rate_limiter.allowed_messages == 5
        status, answer = await post(client, other, "/admin/rate_limit", {"allowed_messages": 5})
        assert status == 409
        assert "without a rate limit" in answer["error"]
    finally:
        await limited.stop()
        await server.close()
        await other.close()


async def test_a_failed_pipeline_is_not_alive(client: aiohttp.ClientSession) -> None:
    queue = MemoryBroker().queue("q")
    queue.push_many(range(10))
    pipeline = Pipeline(
        "doomed",
        Recorder(),
        ProducerOptions(CrashingProducer(MemoryProducer(queue), crash_after=0, crashes=5)),
        supervisor=SupervisorOptions(max_restarts=0, max_seconds=30),
    )
    server = await serve(pipeline, host="127.0.0.1", port=0, stall_window=5, admin=False)
    try:
        await pipeline.start()
        await wait_until(lambda: pipeline.state == "failed", 10, "the pipeline to fail")
        status, body = await get(client, server, "/healthz")
        assert status == 503
        assert body["alive"] is False
        assert "gave up" in body["reason"]
        status, body = await get(client, server, "/readyz")
        assert status == 503
        assert body["reasons"][0].startswith("failed")
    finally:
        await pipeline.stop()
        await server.close()


async def test_ports_and_closing(client: aiohttp.ClientSession) -> None:
    pipeline = memory_pipeline(Recorder(), MemoryBroker().queue("q"))
    first = await serve(pipeline, host="127.0.0.1", port=0, stall_window=5, admin=False)
    try:
        with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{first.port}"):
            await serve(pipeline, host="127.0.0.1", port=first.port, stall_window=5, admin=False)
        with pytest.raises(ValueError, match="stall_window"):
            await serve(pipeline, host="127.0.0.1", port=0, stall_window=0, admin=False)
        status, body = await get(client, first, "/")
        assert status == 200
        assert "/readyz" in body["endpoints"]
    finally:
        await first.close()
        await first.close()  # idempotent
    assert not pipeline.telemetry.enabled  # the exporter serve() made was unsubscribed
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", first.port)) != 0
