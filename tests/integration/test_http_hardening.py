"""The HTTP port against hostile or broken clients: raw sockets, bad requests, bad admin bodies.

Every bad request gets a 4xx and at most one short log line per interval; a
connection that never finishes its request head, or its body, is closed within
the bound; connections past the cap are answered 503; admin values out of range
get a 400 naming the bound; the admin token is required when set and never shown.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from broadway_py import Pipeline, ProducerOptions, RateLimitOptions
from broadway_py.config.secret_text import SecretMasker
from broadway_py.connectors.memory import MemoryBroker, MemoryProducer
from broadway_py.metrics import Server, serve
from broadway_py.metrics.http_limits import HttpLimits
from broadway_py.telemetry import ProducerConnected
from tests.support import Recorder, wait_until

TIMEOUT = 1.0
"""Header and body timeouts of the server under test, in seconds."""

SLACK = 2.5
"""How much later than its bound a connection may be closed (a loaded CI machine)."""

ADMIN_TOKEN = "s3cret-admin-token-EXAMPLE"


def limited_pipeline() -> Pipeline:
    queue = MemoryBroker().queue("q")
    return Pipeline(
        "hardened",
        Recorder(),
        ProducerOptions(MemoryProducer.factory(queue)),
        rate_limit=RateLimitOptions(100, 1.0),
    )


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    limits = HttpLimits(header_timeout=TIMEOUT, body_timeout=TIMEOUT, max_connections=4)
    running = await serve(limited_pipeline(), port=0, stall_window=5, admin=True, limits=limits)
    try:
        yield running
    finally:
        await running.close()


async def exchange(server: Server, data: bytes, timeout: float = 10) -> bytes:
    """Send raw bytes, then read until the server closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


BAD_REQUESTS = {
    "garbage": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http at all\r\n\r\n",
    "bad request line": b"GET\r\n\r\n",
    "bad method": b"G=T / HTTP/1.1\r\nHost: x\r\n\r\n",
    "header without colon": b"GET /metrics HTTP/1.1\r\nHost x\r\n\r\n",
    "oversized header": b"GET /metrics HTTP/1.1\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n",
    "oversized request line": b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\n\r\n",
    "too many headers": b"GET / HTTP/1.1\r\n"
    + b"".join(b"X-%d: 1\r\n" % i for i in range(200))
    + b"\r\n",
    "bad content length": b"POST /admin/rate_limit HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
}


async def test_bad_requests_get_a_4xx_and_one_short_log_line(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for name, data in BAD_REQUESTS.items():
        response = await exchange(server, data)
        assert 400 <= status_of(response) < 500, (name, response[:200])
        assert b"Traceback" not in response, name
    # The port still serves good requests.
    response = await exchange(
        server, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert status_of(response) == 200
    lines = [r for r in caplog.records if r.levelno >= logging.INFO]
    # One line for the first bad request; the rest within the interval are not logged.
    assert len(lines) == 1, [r.getMessage() for r in lines]
    (line,) = lines
    assert line.name == "broadway_py.metrics"
    assert line.exc_info is None
    assert "400" in line.getMessage()
    assert len(line.getMessage()) < 200
    assert not [r for r in caplog.records if r.exc_info]


async def test_a_partial_request_head_is_closed_after_the_header_timeout(server: Server) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        opened = time.monotonic()
        writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # and never the rest
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), TIMEOUT + SLACK) == b""
        assert time.monotonic() - opened >= TIMEOUT * 0.9
    finally:
        writer.close()


async def test_an_idle_connection_is_closed_after_the_header_timeout(server: Server) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        # One request on a keep-alive connection, then silence.
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 200")
        answered = time.monotonic()
        remaining = await asyncio.wait_for(reader.read(), TIMEOUT + SLACK)
        assert remaining.endswith(b"}")  # the rest of the body, then the close
        assert time.monotonic() - answered >= TIMEOUT * 0.5
    finally:
        writer.close()


async def test_a_body_that_stops_coming_gets_408(server: Server) -> None:
    request = (
        b"POST /admin/rate_limit HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b'Content-Length: 100\r\n\r\n{"allowed_'
    )
    started = time.monotonic()
    response = await exchange(server, request, TIMEOUT + SLACK)
    assert status_of(response) == 408
    assert b"did not arrive within 1s" in response
    assert time.monotonic() - started >= TIMEOUT * 0.9


async def test_connections_past_the_cap_get_503(server: Server) -> None:
    held = []
    try:
        for _ in range(4):  # the cap
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")  # keep-alive
            assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
            held.append(writer)
        refused = await exchange(server, b"GET /healthz HTTP/1.1\r\n\r\n", 5)
        assert status_of(refused) == 503
        assert b"too many connections" in refused
    finally:
        for writer in held:
            writer.close()

    async def served() -> bool:
        answer = await exchange(
            server, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        return status_of(answer) == 200

    await wait_until(served, 10, "a connection to be served once the others closed")


async def post_admin(
    server: Server, body: bytes, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as client,
        client.post(
            server.url + "/admin/rate_limit",
            data=body,
            headers={"Content-Type": "application/json", **(headers or {})},
        ) as response,
    ):
        return response.status, await response.json(content_type=None)


@pytest.mark.parametrize(
    ("body", "bound"),
    [
        (
            b'{"interval": Infinity}',
            "interval must be a finite number of seconds from 0.001 to 3600",
        ),
        (b'{"interval": NaN}', "from 0.001 to 3600, not nan"),
        (b'{"interval": 1e999}', "from 0.001 to 3600, not inf"),
        (b'{"interval": -1}', "from 0.001 to 3600, not -1"),
        (b'{"interval": 0}', "from 0.001 to 3600, not 0"),
        (b'{"interval": 86400}', "from 0.001 to 3600, not 86400"),
        (b'{"interval": "fast"}', "from 0.001 to 3600, not 'fast'"),
        (
            b'{"allowed_messages": ' + b"9" * 5000 + b"}",
            "from 1 to 1_000_000_000, not <a number of 5000",
        ),
        (b'{"allowed_messages": 1000000001}', "from 1 to 1_000_000_000, not 1000000001"),
        (b'{"allowed_messages": 0}', "from 1 to 1_000_000_000, not 0"),
        (b'{"allowed_messages": 2.5}', "allowed_messages must be a whole number"),
        (b'{"allowed_messages": true}', "allowed_messages must be a whole number"),
        (b"[" * 5000 + b"]" * 5000, "nests 5000 levels deep; at most 8"),
        (b'{"interval": ', "not valid JSON"),
        (b"\xff\xfe", "UTF-8"),
        (b'{"rate": 1}', "unknown keys ['rate']"),
    ],
)
async def test_admin_values_out_of_bounds_get_400_naming_the_bound(
    server: Server, body: bytes, bound: str, caplog: pytest.LogCaptureFixture
) -> None:
    status, answer = await post_admin(server, body)
    assert status == 400
    assert bound in answer["error"]
    limiter = server.exporter.pipeline.rate_limiter
    assert limiter is not None
    assert (limiter.allowed_messages, limiter.interval) == (100, 1.0)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_an_oversized_admin_body_gets_413(server: Server) -> None:
    status, answer = await post_admin(server, b'{"interval": 1, "x": "' + b"a" * 20_000 + b'"}')
    assert status == 413
    assert "16384 bytes" in answer["error"]


async def test_the_admin_token_is_required_and_never_shown(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    pipeline = limited_pipeline()
    with pytest.raises(ValueError, match="blank"):
        await serve(pipeline, port=0, stall_window=5, admin=True, admin_token=" ")
    server = await serve(pipeline, port=0, stall_window=5, admin=True, admin_token=ADMIN_TOKEN)
    try:
        change = b'{"allowed_messages": 5, "interval": 0.5}'
        for headers in (
            {},
            {"Authorization": "Bearer wrong-token"},
            {"Authorization": f"Basic {ADMIN_TOKEN}"},
            {"Authorization": f"Bearer {ADMIN_TOKEN}x"},
        ):
            status, answer = await post_admin(server, change, headers)
            assert status == 401, headers
            assert "Bearer" in answer["error"]
        assert pipeline.rate_limiter is not None
        assert pipeline.rate_limiter.allowed_messages == 100
        authorised = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        status, answer = await post_admin(server, change, authorised)
        assert (status, answer) == (200, {"rate_limit": {"allowed_messages": 5, "interval": 0.5}})
        async with (
            aiohttp.ClientSession() as client,
            client.get(server.url + "/status") as response,
        ):
            status_text = await response.text()
    finally:
        await server.close()
    assert ADMIN_TOKEN not in status_text
    assert ADMIN_TOKEN not in caplog.text
    refusals = [r for r in caplog.records if "no valid bearer token" in r.getMessage()]
    assert len(refusals) == 1  # four refusals, one line


async def test_status_and_readyz_mask_secrets_in_reasons() -> None:
    pipeline = limited_pipeline()
    masker = SecretMasker(["literal-s3cret"])
    server = await serve(pipeline, port=0, stall_window=5, redact=masker.mask)
    try:
        reason = "cannot reach amqp://shop:Pa55w0rd@rabbit:5672/ (key literal-s3cret)"
        pipeline.telemetry.emit(ProducerConnected(False, reason))
        async with aiohttp.ClientSession() as client:
            for path in ("/status", "/readyz"):
                async with client.get(server.url + path) as response:
                    text = await response.text()
                assert "Pa55w0rd" not in text, path
                assert "literal-s3cret" not in text, path
                assert "amqp://shop:<redacted>@rabbit:5672/" in text, path
    finally:
        await server.close()


async def test_a_blank_admin_token_stops_the_service_at_start(tmp_path: Path) -> None:
    (tmp_path / "admin_handlers.py").write_text("def handle(message):\n    return message\n")
    (tmp_path / "admin.yaml").write_text(
        "name: admin\n"
        "handler: admin_handlers:handle\n"
        "producer: {generator: {count: 10}}\n"
        "http: {port: 0, admin: true}\n"
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "broadway_py", "run", "admin.yaml"),
        cwd=tmp_path,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "BROADWAY_ADMIN_TOKEN": "  "},
    )
    _, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode != 0
    text = err.decode()
    assert "BROADWAY_ADMIN_TOKEN is set but empty" in text
    assert "Traceback" not in text
