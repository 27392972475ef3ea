"""The live page at ``/`` in headless Chromium, on a running ``broadway-py run``.

A pipeline file written by the test runs the endless generator through two
processors and a batcher; its handler dead-letters every 25th message with a
reason that carries a marker and some HTML (which must show as text). Debian's
``chromium`` (scripts/install-tools.sh), driven by Playwright through its
``executable_path``, opens ``/``: the topology shows its four stages, the
acked count rises between two reads, a failure with the marker and its
decision appears, no request leaves the origin, nothing breaks the page's
Content-Security-Policy, and at a phone's width (375 px) nothing overflows.
The test saves a screenshot of each width in its tmp dir.

A second test answers the page's requests itself (``page.route``): the
``--workers`` front's /status (its totals made by metrics/sum_status.py) with
two workers' Kafka lag, connections and failures; then a /status without the
newer keys (empty states); then no answer at all.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from broadway_py.metrics.page import ASSETS, PAGE_FILE, SECURITY_HEADERS, read
from broadway_py.metrics.sum_status import status_totals
from tests.deploy.tools import load, tool

pytestmark = pytest.mark.slow

MARKER = "live-page-marker"
REASON_HTML = "<b>not bold</b>"
PHONE_WIDTH = 375
WAIT_MS = 20_000
SERVING = re.compile(r"serving /metrics.* on (http://127\.0\.0\.1:\d+)")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

HANDLER = f'''
"""The live page test's handler (written by the test)."""

from broadway_py import Handler, PoisonMessageError


class Marked(Handler):
    def handle_message(self, message):
        seq = message.metadata["seq"]
        if seq % 25 == 3:
            raise PoisonMessageError(f"{MARKER} {{seq}}: {REASON_HTML}")
        return message.put_batcher("db")

    def handle_batch(self, batcher, messages, info):
        return messages
'''

PIPELINE = """
name: live-page
handler: live_page_handler:Marked
producer:
  generator:
    rate: 200
    payload: "message {seq}"
  decode: text
processors:
  concurrency: 2
batchers:
  db:
    batch_size: 20
    batch_timeout: 0.2
shutdown:
  drain_timeout: 10
http:
  host: 127.0.0.1
  port: 0
"""


class Service:
    """``broadway-py run`` in a subprocess; ``url`` once its HTTP port is listening."""

    def __init__(self, folder: Path) -> None:
        (folder / "live_page_handler.py").write_text(textwrap.dedent(HANDLER))
        (folder / "pipeline.yaml").write_text(PIPELINE)
        command = Path(sys.executable).with_name("broadway-py")
        self.process = subprocess.Popen(
            [str(command), "run", "pipeline.yaml"],
            cwd=folder,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self.url = ""
        self._listening = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)
            found = SERVING.search(line)
            if found and not self.url:
                self.url = found.group(1)
                self._listening.set()
        self._listening.set()  # exited: wake the waiter, which finds no url

    def wait_listening(self, timeout: float) -> str:
        self._listening.wait(timeout)
        assert self.url, f"broadway-py run did not start its HTTP port:\n{self.output()}"
        return self.url

    def output(self) -> str:
        return "".join(self.lines[-60:])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._reader.join(timeout=10)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    running = Service(tmp_path)
    try:
        yield running
    finally:
        running.stop()


@contextmanager
def chromium_page(profile: Path, width: int = 1200) -> Iterator[tuple[Any, Any, list[str]]]:
    """``(page, expect, problems)``: a page of headless Chromium with a fresh profile.

    ``problems`` collects the page's errors and console errors or warnings (a
    Content-Security-Policy violation is one).
    """
    sync_api = load("playwright.sync_api")
    chromium = tool("chromium")
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=chromium,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": width, "height": 900},
        )
        try:
            page = context.new_page()
            problems: list[str] = []
            page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
            page.on(
                "console",
                lambda message: (
                    problems.append(f"console {message.type}: {message.text}")
                    if message.type in ("error", "warning")
                    else None
                ),
            )
            yield page, sync_api.expect, problems
        finally:
            context.close()


def number(locator: Any) -> float:
    value = locator.get_attribute("data-value")
    assert value is not None
    return float(value)


def next_update(page: Any, expect: Any) -> None:
    """Wait until the page has drawn a newer /status than the one it shows now."""
    body = page.locator("body")
    expect(body).to_have_attribute("data-updates", re.compile(r"\d+"), timeout=WAIT_MS)
    drawn = body.get_attribute("data-updates")
    expect(body).not_to_have_attribute("data-updates", drawn, timeout=WAIT_MS)


def test_the_live_page_shows_a_running_pipeline(service: Service, tmp_path: Path) -> None:
    base = service.wait_listening(timeout=30)
    with chromium_page(tmp_path / "chromium-profile") as (page, expect, problems):
        foreign: list[str] = []
        page.on(
            "request",
            lambda request: None if request.url.startswith(base) else foreign.append(request.url),
        )
        page.goto(base + "/")

        # The topology: producers -> processors -> batchers -> batch processors.
        for stage in ("producers", "processors", "batchers", "batch-processors"):
            expect(page.locator(f'[data-stage="{stage}"]')).to_be_visible(timeout=WAIT_MS)
        expect(page.locator('[data-stage="batchers"]')).to_contain_text("db")
        expect(page.locator('[data-producer="producer_0"] .pill')).to_have_text("connected")

        # The numbers rise: two reads of the acked count, the second larger.
        acked = page.locator('[data-metric="acked.successful"]')
        expect(acked).to_have_attribute("data-value", re.compile(r"\d"), timeout=WAIT_MS)
        first = acked.get_attribute("data-value")
        assert first is not None
        expect(acked).not_to_have_attribute("data-value", first, timeout=WAIT_MS)
        assert number(acked) > float(first)
        expect(page.locator('[data-metric="acked.dead_lettered"]')).not_to_have_attribute(
            "data-value", "0", timeout=WAIT_MS
        )

        # A failure shows with its reason (as text, not HTML) and its decision.
        failure = page.locator(".failure", has_text=MARKER).first
        expect(failure).to_be_visible(timeout=WAIT_MS)
        expect(failure.locator(".reason")).to_contain_text(REASON_HTML)
        assert failure.locator(".reason b").count() == 0
        expect(failure.locator('[data-role="decision"]')).to_have_text("dead letter")
        expect(failure).to_have_attribute("data-decision", "dead_letter")
        page.screenshot(path=str(tmp_path / "live_page.png"), full_page=True)

        # At a phone's width nothing overflows sideways.
        page.set_viewport_size({"width": PHONE_WIDTH, "height": 800})
        next_update(page, expect)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE_WIDTH + 1, f"the page is {width}px wide at {PHONE_WIDTH}px"
        page.screenshot(path=str(tmp_path / "live_page_phone.png"), full_page=True)

        assert not problems, problems
        assert not foreign, f"the page asked another origin: {foreign}"
    assert (tmp_path / "live_page.png").stat().st_size > 0
    assert service.process.poll() is None, service.output()


ORIGIN = "http://live-page.test"
"""A made-up origin: every request to it is answered by the test (page.route)."""

HOSTILE = '<img src=x id="injected">'


def worker(index: int, lag: dict[str, int], failure_at: float, connected: bool) -> dict[str, Any]:
    """One worker's entry in the --workers front's /status (metrics/sum_status.py's input)."""
    return {
        "index": index,
        "pid": 100 + index,
        "restarts": 0,
        "status": {
            "name": "fleet",
            "state": "running",
            "alive": True,
            "ready": connected,
            "not_ready_reasons": [] if connected else ["not connected: producer_0"],
            "producer_instances": ["default"],
            "processors": {"concurrency": 2, "executor": "loop"},
            "batchers": [],
            "in_flight": 5,
            "oldest_in_flight_age": 1.5 + index,
            "backlog_total": 0,
            "counters": {"received": 10, "acked": {"successful": 4, "retried": 1}},
            "stages": {
                "producer_0": {"received": 10, "restarts": 0},
                "processor_0": {"ok": 4, "failed": 1, "restarts": 0},
                "processor_1": {"ok": 4, "failed": 0, "restarts": 0},
            },
            "producer_connections": {
                "producer_0": {
                    "connected": connected,
                    "reason": "" if connected else "broker gone",
                    "for_seconds": 3.0,
                }
            },
            "oldest_in_flight_age_by_producer": {"producer_0": 1.5 + index},
            "backlog": {},
            "partition_lag": {"orders": {str(p): n for p, n in lag.items()}},
            "recent_failures": [
                {
                    "at": failure_at,
                    "stage": "processor",
                    "message_id": f"m-{index}",
                    "reason": f"worker {index} says {HOSTILE}",
                    "decision": "retry",
                    "delay": 0.5,
                }
            ],
        },
    }


WORKERS = [
    worker(0, {"0": 12}, failure_at=1_700_000_000.0, connected=True),
    worker(1, {"1": 3}, failure_at=1_700_000_100.0, connected=False),
]
FRONT_STATUS = {
    "name": "fleet",
    "workers": WORKERS,
    "totals": {
        "workers": 2,
        "live": 2,
        "answered": 2,
        "worker_restarts": 0,
        **status_totals([w["status"] for w in WORKERS]),
    },
}
"""The --workers front's /status (service/worker_front.py), its totals made as it makes them."""

OLD_STATUS = {
    "name": "before-the-new-keys",
    "state": "running",
    "ready": True,
    "alive": True,
    "producer_instances": ["default"],
    "processors": {"concurrency": 1},
    "batchers": [],
    "stages": {"producer_0": {"received": 1}, "processor_0": {"ok": 1, "failed": 0}},
    "counters": {"received": 1, "acked": {"successful": 1}},
}
"""A /status without partition_lag, recent_failures nor oldest_in_flight_age_by_producer."""


def test_the_page_reads_the_workers_front_and_an_older_status(tmp_path: Path) -> None:
    documents: list[dict[str, Any] | None] = [FRONT_STATUS]  # None: the port is gone
    files = {"/": (PAGE_FILE, "text/html")} | ASSETS

    def answer(route: Any) -> None:
        path = route.request.url.removeprefix(ORIGIN).split("?")[0]
        if path == "/status" and documents[-1] is None:
            route.abort("connectionrefused")
        elif path == "/status":
            route.fulfill(json=documents[-1], headers=SECURITY_HEADERS)
        elif path in files:
            name, content_type = files[path]
            route.fulfill(body=read(name), content_type=content_type, headers=SECURITY_HEADERS)
        else:
            route.fulfill(status=404, body="not here")

    with chromium_page(tmp_path / "chromium-profile", PHONE_WIDTH) as (page, expect, problems):
        page.route(f"{ORIGIN}/**", answer)
        page.goto(ORIGIN + "/")
        expect(page.locator("#updated")).to_contain_text("2 of 2 workers answered", timeout=WAIT_MS)
        # Both workers' partitions, each worker's producer, its connection.
        expect(page.locator('[data-source="orders"] [data-partition="0"]')).to_have_text("p0: 12")
        expect(page.locator('[data-source="orders"] [data-partition="1"]')).to_have_text("p1: 3")
        expect(page.locator('[data-producer="w1/producer_0"] .pill')).to_have_text("disconnected")
        expect(page.locator('[data-producer="w1/producer_0"]')).to_contain_text("broker gone")
        expect(page.locator('[data-producer="w0/producer_0"] .pill')).to_have_text("connected")
        expect(page.locator('[data-metric="acked.successful"]')).to_have_attribute(
            "data-value", "8"
        )
        expect(page.locator("#ready")).to_have_text("not ready")
        # Failures of all workers, newest first; a reason's markup stays text.
        failures = page.locator(".failure")
        expect(failures).to_have_count(2)
        expect(failures.nth(0)).to_contain_text(f"worker 1 says {HOSTILE}")
        expect(failures.nth(1)).to_contain_text(f"worker 0 says {HOSTILE}")
        expect(failures.nth(0).locator('[data-role="decision"]')).to_have_text("retry")
        assert page.locator("#injected").count() == 0
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE_WIDTH + 1, f"the page is {width}px wide at {PHONE_WIDTH}px"

        # A /status from before the lag, failures and per-producer ages: empty states.
        documents.append(OLD_STATUS)
        expect(page.locator("#name")).to_have_text("before-the-new-keys", timeout=WAIT_MS)
        expect(page.locator("#failures")).to_contain_text("lists no failures")
        expect(page.locator("#lag")).to_contain_text("no partitions reported")
        expect(page.locator('[data-producer="producer_0"]')).to_contain_text(
            "no connection reported"
        )
        assert not problems, problems

        # The port goes away: the page says so (and keeps what it last drew).
        documents.append(None)
        expect(page.locator("#state")).to_have_text("unreachable", timeout=WAIT_MS)
        expect(page.locator("#problem")).to_contain_text("cannot read /status")
        expect(page.locator("#name")).to_have_text("before-the-new-keys")
