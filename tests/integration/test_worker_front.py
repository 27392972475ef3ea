"""The parent's front over two real in-process pipelines, each with its own HTTP port."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from broadway_py import Pipeline, ProducerOptions, RateLimitOptions
from broadway_py.connectors.memory import MemoryBroker, MemoryProducer, MemoryQueue
from broadway_py.metrics import Server, serve
from broadway_py.metrics.listening import Listening
from broadway_py.service.worker_front import WorkerView, serve_front
from tests.support import Recorder, wait_until

NAME = "orders-s3cret"
"""The pipeline's name; the front's redact masks its secret part, the workers' do not."""


def redact(text: str) -> str:
    return text.replace("s3cret", "***")


@dataclass
class Worker:
    queue: MemoryQueue
    pipeline: Pipeline
    server: Server


@dataclass
class Running:
    workers: list[Worker]
    views: list[WorkerView]
    front: Listening
    client: aiohttp.ClientSession

    async def get(self, path: str) -> tuple[int, Any]:
        async with self.client.get(self.front.url + path) as response:
            if response.content_type == "application/json":
                return response.status, await response.json()
            return response.status, await response.text()

    async def post(self, path: str, body: Any) -> tuple[int, Any]:
        async with self.client.post(self.front.url + path, json=body) as response:
            return response.status, await response.json()

    async def samples(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        status, text = await self.get("/metrics")
        assert status == 200
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(text)
            for s in f.samples
        }


def acked(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> float:
    key = ("broadway_messages_acked_total", (("outcome", "successful"), ("pipeline", NAME)))
    return samples[key]


@pytest.fixture
async def running() -> AsyncIterator[Running]:
    workers: list[Worker] = []
    front: Listening | None = None
    try:
        for _ in range(2):
            queue = MemoryBroker().queue("orders")
            pipeline = Pipeline(
                NAME,
                Recorder(),
                ProducerOptions(MemoryProducer.factory(queue)),
                rate_limit=RateLimitOptions(10_000, 1.0),
            )
            server = await serve(pipeline, host="127.0.0.1", port=0, stall_window=5, admin=True)
            workers.append(Worker(queue, pipeline, server))
            await pipeline.start()
        views = [WorkerView(i, 4000 + i, w.server.url, restarts=i) for i, w in enumerate(workers)]
        front = await serve_front("127.0.0.1", 0, lambda: views, NAME, redact, timeout=5)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as client:
            yield Running(workers, views, front, client)
    finally:
        if front is not None:
            await front.close()
        for worker in workers:
            await worker.pipeline.stop()
            await worker.server.close()


async def work(running: Running, *counts: int) -> None:
    """Push ``counts[i]`` messages to worker i and wait until each has acked them."""
    for worker, count in zip(running.workers, counts, strict=True):
        worker.queue.push_many(range(count))
    total = sum(counts)
    await wait_until(lambda: _acked(running) == total, 10, f"{total} acks")


def _acked(running: Running) -> int:
    """Messages the workers acked as successful, as their own exporters counted them."""
    return sum(w.server.exporter.stats.acked["successful"] for w in running.workers)


async def test_metrics_are_the_sum_of_the_workers(running: Running) -> None:
    await work(running, 30, 50)
    samples = await running.samples()
    assert acked(samples) == 80
    assert samples[("broadway_messages_received_total", (("pipeline", NAME),))] == 80
    assert samples[("broadway_workers", (("pipeline", NAME), ("state", "configured")))] == 2
    assert samples[("broadway_workers", (("pipeline", NAME), ("state", "live")))] == 2
    assert samples[("broadway_workers_unanswered", (("pipeline", NAME),))] == 0
    restarts = "broadway_worker_restarts_total"
    assert samples[(restarts, (("pipeline", NAME), ("worker", "1")))] == 1
    # Info and one-hot gauges are not multiplied by the workers.
    state = ("broadway_pipeline_state", (("pipeline", NAME), ("state", "running")))
    assert samples[state] == 1
    # A scraper that asks for OpenMetrics gets it.
    headers = {"Accept": "application/openmetrics-text; version=1.0.0"}
    async with running.client.get(running.front.url + "/metrics", headers=headers) as response:
        assert response.status == 200
        assert response.content_type == "application/openmetrics-text"
        text = await response.text()
    assert f'broadway_messages_acked_total{{outcome="successful",pipeline="{NAME}"}} 80.0' in text
    assert text.endswith("# EOF\n")


async def test_readyz_needs_every_worker(running: Running) -> None:
    await wait_until(lambda: _status_is(running, "/readyz", 200), 10, "both workers ready")
    running.views[1].url = None
    status, body = await running.get("/readyz")
    assert status == 503
    assert body == {"ready": False, "reasons": ["worker 1: not running (starting or restarting)"]}
    assert (await running.get("/healthz"))[0] == 200
    running.views[0].url = None
    status, body = await running.get("/healthz")
    assert (status, body) == (503, {"alive": False, "workers": 2, "live": 0})


async def test_a_browser_gets_the_live_page_and_a_script_the_endpoints(running: Running) -> None:
    page = {"Accept": "text/html,application/xhtml+xml"}
    async with running.client.get(running.front.url + "/", headers=page) as response:
        assert response.status == 200
        assert response.content_type == "text/html"
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        assert '<script src="page.js"' in await response.text()
    async with running.client.get(running.front.url + "/page.js") as response:
        assert response.status == 200
        assert "/status" in await response.text()
    status, body = await running.get("/")
    assert status == 200
    assert body["workers"] == 2


async def test_status_lists_each_worker_and_totals(running: Running) -> None:
    await work(running, 3, 4)
    status, body = await running.get("/status")
    assert status == 200
    assert body["name"] == "orders-***"
    assert [(w["index"], w["pid"], w["restarts"]) for w in body["workers"]] == [
        (0, 4000, 0),
        (1, 4001, 1),
    ]
    assert [w["status"]["counters"]["acked"]["successful"] for w in body["workers"]] == [3, 4]
    assert body["totals"]["counters"]["acked"]["successful"] == 7
    assert body["totals"]["worker_restarts"] == 1
    text = str(body)
    assert "s3cret" not in text
    for worker in running.workers:
        assert f":{worker.server.port}" not in text


async def test_a_worker_that_does_not_answer_is_left_out_and_counted(running: Running) -> None:
    await work(running, 30, 50)
    await running.workers[1].server.close()
    samples = await running.samples()
    assert acked(samples) == 30
    assert samples[("broadway_workers_unanswered", (("pipeline", NAME),))] == 1
    assert samples[("broadway_workers", (("pipeline", NAME), ("state", "live")))] == 2
    status, body = await running.get("/status")
    assert status == 200
    assert body["workers"][1]["error"].startswith("no answer")
    assert body["totals"]["answered"] == 1
    status, body = await running.get("/readyz")
    assert status == 503
    assert body["reasons"][0].startswith("worker 1: no answer")


async def test_an_admin_request_goes_to_every_worker(running: Running) -> None:
    status, body = await running.post("/admin/rate_limit", {"allowed_messages": 200})
    assert status == 200
    assert [w["status"] for w in body["workers"]] == [200, 200]
    for worker in running.workers:
        limiter = worker.pipeline.rate_limiter
        assert limiter is not None
        assert limiter.allowed_messages == 200
    # A worker's refusal comes back as it was given.
    status, body = await running.post("/admin/rate_limit", {"interval": 0})
    assert status == 400
    assert all("interval" in w["answer"]["error"] for w in body["workers"])
    # A worker not running: not every worker took it.
    running.views[0].url = None
    status, body = await running.post("/admin/rate_limit", {"allowed_messages": 300})
    assert status == 502
    assert body["workers"][0] == {
        "index": 0,
        "pid": 4000,
        "error": "not running (starting or restarting)",
    }
    assert body["workers"][1]["status"] == 200


async def _status_is(running: Running, path: str, expected: int) -> bool:
    return (await running.get(path))[0] == expected


async def test_a_slow_worker_is_left_out_after_the_timeout(running: Running) -> None:
    await work(running, 5, 6)
    release = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await release.wait()  # reads nothing, answers nothing
        writer.close()

    hung = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = hung.sockets[0].getsockname()[1]
    views = [*running.views, WorkerView(2, 4002, f"http://127.0.0.1:{port}", restarts=0)]
    front = await serve_front("127.0.0.1", 0, lambda: views, NAME, redact, timeout=0.3)
    try:
        async with running.client.get(front.url + "/metrics") as response:
            assert response.status == 200
            text = await response.text()
        assert (
            f'broadway_messages_acked_total{{outcome="successful",pipeline="{NAME}"}} 11.0' in text
        )
        assert f'broadway_workers_unanswered{{pipeline="{NAME}"}} 1.0' in text
        async with running.client.get(front.url + "/status") as response:
            body = await response.json()
        assert body["workers"][2]["error"] == "no answer within 0.3s"
    finally:
        release.set()
        await front.close()
        hung.close()
        await hung.wait_closed()


async def test_an_admin_body_past_the_bound_is_refused_by_the_front(running: Running) -> None:
    async with running.client.post(
        running.front.url + "/admin/rate_limit", data=b"x" * (64 * 1024)
    ) as response:
        assert response.status == 413
        assert "larger than" in (await response.json())["error"]
    for worker in running.workers:
        limiter = worker.pipeline.rate_limiter
        assert limiter is not None
        assert limiter.allowed_messages == 10_000
