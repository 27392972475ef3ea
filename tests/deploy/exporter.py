"""A real broadway_py exporter for the deploy tests, on a memory-broker pipeline.

It runs in a thread with its own event loop so that synchronous tests (and a
real Prometheus server) can scrape it while the pipeline keeps running. What
it exposes is what the dashboard and the alert rules are checked against.
"""

from __future__ import annotations

import asyncio
import threading
import urllib.request
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

from broadway_py import (
    BatcherOptions,
    BatchInfo,
    Handler,
    Message,
    Pipeline,
    ProcessorOptions,
    ProducerOptions,
    RateLimitOptions,
)
from broadway_py.connectors.memory import MemoryBroker, MemoryProducer
from broadway_py.metrics import serve
from tests.support import wait_until

PIPELINE = "deploy-check"
MESSAGES = 50
SUFFIXES = {
    "counter": ("_total",),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count"),
    "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
    "summary": ("", "_sum", "_count"),
    "info": ("_info",),
    "stateset": ("",),
    "unknown": ("",),
}


class _ToBatcher(Handler):
    def handle_message(self, message: Message) -> Message:
        return message.put_batcher("db")

    def handle_batch(self, batcher: str, messages: list[Message], info: BatchInfo) -> list[Message]:
        return messages


@dataclass
class Exposition:
    """What one scrape of /metrics showed."""

    text: str
    series: set[str] = field(default_factory=set)
    """Every series name a query can select (histograms: _bucket, _sum, _count)."""
    families: dict[str, str] = field(default_factory=dict)
    """Series name -> its family's name."""
    labels: dict[str, set[str]] = field(default_factory=dict)
    """Series name -> the label names of its samples."""
    values: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    """(series name, label) -> the values seen."""

    @classmethod
    def parse(cls, text: str) -> Exposition:
        exposition = cls(text)
        for family in text_string_to_metric_families(text):
            names = {family.name + suffix for suffix in SUFFIXES[family.type]}
            names.update(sample.name for sample in family.samples)
            for name in names:
                exposition.series.add(name)
                exposition.families[name] = family.name
                exposition.labels.setdefault(name, set())
            for sample in family.samples:
                for name in names:
                    exposition.labels[name].update(sample.labels)
                    for label, value in sample.labels.items():
                        exposition.values.setdefault((name, label), set()).add(value)
        return exposition


class LiveExporter(threading.Thread):
    """Runs the pipeline and its HTTP server until :meth:`close`."""

    def __init__(self) -> None:
        super().__init__(name="deploy-exporter", daemon=True)
        self.port = 0
        self.error: BaseException | None = None
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as error:  # reported to the waiting test
            self.error = error
        finally:
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        broker = MemoryBroker()
        queue = broker.queue("orders")
        pipeline = Pipeline(
            PIPELINE,
            handler=_ToBatcher(),
            producer=ProducerOptions(MemoryProducer.factory(queue)),
            processors=ProcessorOptions(concurrency=2, max_demand=10),
            batchers=[BatcherOptions("db", batch_size=5, batch_timeout=0.05)],
            rate_limit=RateLimitOptions(allowed_messages=100_000, interval=1.0),
        )
        server = await serve(pipeline, host="127.0.0.1", port=0, stall_window=60.0, admin=False)
        try:
            await pipeline.start()
            for number in range(MESSAGES):
                queue.push(b'{"order": %d}' % number)
            await wait_until(
                lambda: queue.stats.acked >= MESSAGES, timeout=30, what="the messages acked"
            )
            self.port = server.port
            self._ready.set()
            await self._stopping.wait()
        finally:
            await pipeline.stop()
            await server.close()

    def wait_ready(self, timeout: float) -> None:
        if not self._ready.wait(timeout):
            raise AssertionError(f"the exporter was not ready within {timeout}s")
        if self.error is not None:
            raise AssertionError(f"the exporter failed: {self.error!r}") from self.error

    def scrape(self) -> Exposition:
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=10) as response:
            return Exposition.parse(response.read().decode())

    def close(self) -> None:
        if self._loop is not None and self._stopping is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stopping.set)
        self.join(timeout=30)
