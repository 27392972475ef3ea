"""The live page at ``/`` as HTTP serves it: to a browser only, self-contained, under a strict CSP.

What the page does in a browser is tests/deploy/test_live_page.py's (headless
Chromium); here: who gets the page and who keeps the JSON endpoint list, the
headers, and that nothing in the page points anywhere but its own origin.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from html.parser import HTMLParser

import aiohttp
import pytest

from broadway_py import Pipeline, ProducerOptions
from broadway_py.connectors.memory import MemoryBroker, MemoryProducer
from broadway_py.metrics import Server, serve
from broadway_py.metrics.page import ASSETS, CONTENT_SECURITY_POLICY, PAGE_FILE, read
from broadway_py.metrics.server import ENDPOINTS
from tests.support import Recorder

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    queue = MemoryBroker().queue("q")
    pipeline = Pipeline("page", Recorder(), ProducerOptions(MemoryProducer.factory(queue)))
    running = await serve(pipeline, host="127.0.0.1", port=0, stall_window=5, admin=False)
    try:
        yield running
    finally:
        await running.close()


class _References(HTMLParser):
    """Every ``src`` and ``href`` of a document."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str]] = []
        self.inline_scripts = 0
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value is not None:
                self.found.append((tag, value))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts += 1


async def test_a_browser_gets_the_page_with_a_strict_policy(server: Server) -> None:
    async with (
        aiohttp.ClientSession() as client,
        client.get(server.url + "/", headers={"Accept": BROWSER_ACCEPT}) as response,
    ):
        assert response.status == 200
        assert response.content_type == "text/html"
        body = await response.read()
        headers = response.headers
    assert body == read(PAGE_FILE)
    assert b'<script src="page.js"' in body
    policy = headers["Content-Security-Policy"]
    assert policy == CONTENT_SECURITY_POLICY
    assert "default-src 'none'" in policy
    assert "script-src 'self'" in policy
    assert "unsafe" not in policy  # no inline script, no eval
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Vary"] == "Accept"


async def test_scripts_keep_the_endpoint_list(server: Server) -> None:
    async with aiohttp.ClientSession() as client:
        for accept in ("*/*", "application/json", None):
            headers = {} if accept is None else {"Accept": accept}
            async with client.get(server.url + "/", headers=headers) as response:
                assert response.status == 200, accept
                assert response.content_type == "application/json", accept
                document = await response.json()
            assert document == {"pipeline": "page", "endpoints": ENDPOINTS}
    assert "/" in ENDPOINTS


async def test_the_assets_are_served_with_their_types(server: Server) -> None:
    async with aiohttp.ClientSession() as client:
        for path, (name, content_type) in ASSETS.items():
            async with client.get(server.url + path) as response:
                assert response.status == 200, path
                assert response.content_type == content_type, path
                assert await response.read() == read(name)
                assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY


def test_the_page_references_nothing_outside_its_origin() -> None:
    parser = _References()
    parser.feed(read(PAGE_FILE).decode())
    assert parser.inline_scripts == 0
    own = {path.lstrip("/") for path in ASSETS} | {p.lstrip("/") for p in ENDPOINTS}
    for tag, value in parser.found:
        # A relative path of this server (works behind a proxy's path prefix), or no resource.
        assert value in own or value == "data:,", (tag, value)
    for name in (PAGE_FILE, *(file for file, _ in ASSETS.values())):
        text = read(name).decode()
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]", text, re.IGNORECASE), name
        assert "@import" not in text, name
        assert "innerHTML" not in text, name  # every text goes in through textContent
