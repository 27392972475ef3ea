"""POST /admin/resize against a running pipeline on the memory broker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from broadway_py import (
    BatcherOptions,
    Pipeline,
    ProcessorOptions,
    ProducerOptions,
)
from broadway_py.connectors.memory import MemoryBroker, MemoryProducer
from broadway_py.metrics import Server, serve
from broadway_py.service.worker_front import WorkerView, serve_front
from tests.support import Recorder, wait_until

TOKEN = "resize-secret-token"


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session:
        yield session


async def post(
    client: aiohttp.ClientSession, server: Server, body: Any, token: str | None = None
) -> tuple[int, Any]:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    async with client.post(server.url + "/admin/resize", json=body, headers=headers) as response:
        return response.status, await response.json(content_type=None)


def batched_pipeline() -> Pipeline:
    queue = MemoryBroker().queue("q")
    queue.push_many(range(200))
    return Pipeline(
        "sized",
        Recorder(batcher="db"),
        ProducerOptions(MemoryProducer.factory(queue)),
        ProcessorOptions(concurrency=2),
        [BatcherOptions("db", batch_size=10, batch_timeout=0.05)],
    )


async def test_resize_needs_admin_and_the_token(client: aiohttp.ClientSession) -> None:
    pipeline = batched_pipeline()
    closed = await serve(pipeline, host="127.0.0.1", port=0, stall_window=5, admin=False)
    guarded = await serve(
        pipeline, host="127.0.0.1", port=0, stall_window=5, admin=True, admin_token=TOKEN
    )
    try:
        await pipeline.start()
        status, answer = await post(client, closed, {"processors": 4}, TOKEN)
        assert status == 403
        assert "disabled" in answer["error"]
        for token in (None, "wrong"):
            status, answer = await post(client, guarded, {"processors": 4}, token)
            assert status == 401
            assert "Bearer" in answer["error"]
        assert pipeline.sizes()["processors"] == 2
        status, answer = await post(
            client, guarded, {"processors": 4, "batchers": {"db": 3}}, TOKEN
        )
        assert (status, answer) == (200, {"sizes": {"processors": 4, "batchers": {"db": 3}}})
        assert len(pipeline.running_stages("processor")) == 4
        async with client.get(guarded.url + "/status") as response:
            described = await response.json()
        assert described["processors"]["concurrency"] == 4
        assert described["batchers"][0]["concurrency"] == 3
    finally:
        await pipeline.stop()
        await closed.close()
        await guarded.close()


async def test_resize_refuses_bad_bodies_and_a_stopped_pipeline(
    client: aiohttp.ClientSession,
) -> None:
    pipeline = batched_pipeline()
    server = await serve(pipeline, host="127.0.0.1", port=0, stall_window=5, admin=True)
    try:
        status, answer = await post(client, server, {"processors": 3})
        assert status == 409
        assert "not running" in answer["error"]
        await pipeline.start()
        await wait_until(lambda: len(pipeline.running_stages("processor")) == 2, 10, "processors")
        bad: list[tuple[Any, str]] = [
            ({"processors": 0}, "processors.concurrency"),
            ({"processors": 10_001}, "processors.concurrency"),
            ({"processors": "8"}, "processors.concurrency"),
            ({"batchers": {"db": 0}}, "batchers.db.concurrency"),
            ({"batchers": {"nope": 1}}, "batchers.nope"),
            ({"batchers": [1]}, "batchers"),
            ({"workers": 3}, "unknown keys"),
            ({}, "give processors"),
            ([3], "JSON object"),
        ]
        for body, named in bad:
            status, answer = await post(client, server, body)
            assert status == 400, body
            assert named in answer["error"], (body, answer)
        assert pipeline.sizes() == {"processors": 2, "batchers": {"db": 1}}
        async with client.post(
            server.url + "/admin/resize", data=b"{not json", headers={}
        ) as response:
            assert response.status == 400
    finally:
        await pipeline.stop()
        await server.close()


async def test_the_worker_front_forwards_a_resize_to_every_worker(
    client: aiohttp.ClientSession,
) -> None:
    pipelines = [batched_pipeline() for _ in range(2)]
    servers = [
        await serve(p, host="127.0.0.1", port=0, stall_window=5, admin=True) for p in pipelines
    ]
    views = [WorkerView(i, 4000 + i, s.url, restarts=0) for i, s in enumerate(servers)]
    front = await serve_front("127.0.0.1", 0, lambda: views, "sized", lambda t: t, timeout=10)
    try:
        for pipeline in pipelines:
            await pipeline.start()
        body = {"processors": 3, "batchers": {"db": 2}}
        async with client.post(front.url + "/admin/resize", json=body) as response:
            assert response.status == 200
            answer = await response.json()
        assert [w["status"] for w in answer["workers"]] == [200, 200]
        for pipeline in pipelines:
            assert pipeline.sizes() == {"processors": 3, "batchers": {"db": 2}}
    finally:
        await front.close()
        for pipeline, server in zip(pipelines, servers, strict=True):
            await pipeline.stop()
            await server.close()
