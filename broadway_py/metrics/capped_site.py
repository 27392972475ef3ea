"""A TCP listener for the aiohttp runner that refuses connections past a cap.

aiohttp serves every connection it accepts; a client that opens thousands and
holds them would use up file descriptors and memory. :class:`CappedTCPSite`
listens like ``aiohttp.web.TCPSite``, but while ``max_connections`` are open it
answers a new one ``503 Service Unavailable`` straight away and closes it (one
rate-limited log line says so), so the process keeps its descriptors and the
open connections keep being served.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from broadway_py.metrics.rate_limited_log import RateLimitedLog

_BUSY = b"too many connections; try again later\n"
_REFUSAL = (
    b"HTTP/1.1 503 Service Unavailable\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: " + str(len(_BUSY)).encode() + b"\r\n"
    b"Retry-After: 1\r\n"
    b"Connection: close\r\n\r\n" + _BUSY
)


class CappedTCPSite(web.BaseSite):
    """Listen on ``host:port``; past ``max_connections`` open connections, answer 503."""

    __slots__ = ("_bound_port", "_host", "_log", "_max_connections", "_port")

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        *,
        max_connections: int,
        log: RateLimitedLog,
    ) -> None:
        super().__init__(runner)
        self._host = host
        self._port = port
        self._bound_port: int | None = None
        self._max_connections = max_connections
        self._log = log

    @property
    def host(self) -> str:
        """The host asked for."""
        return self._host

    @property
    def port(self) -> int:
        """The port bound (the one asked for, before start)."""
        return self._port if self._bound_port is None else self._bound_port

    @property
    def name(self) -> str:
        """The base URL (``http://host:port``, an IPv6 host in brackets), for logs."""
        host = self._host or "0.0.0.0"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None  # BaseSite.__init__ checked it
        cap = self._max_connections

        def protocol() -> asyncio.BaseProtocol:
            if len(server.connections) >= cap:
                return _Refusal(self._log, cap)
            return server()

        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(protocol, self._host, self._port)
        sockets = self._server.sockets
        self._bound_port = sockets[0].getsockname()[1] if sockets else self._port


class _Refusal(asyncio.Protocol):
    """Answers 503 and closes, without reading the request."""

    def __init__(self, log: RateLimitedLog, cap: int) -> None:
        self._log = log
        self._cap = cap

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        peer = transport.get_extra_info("peername")
        self._log.log(
            logging.WARNING,
            "refused an HTTP connection from %s: %d connections are open, the most allowed",
            peer[0] if isinstance(peer, tuple) and peer else "?",
            self._cap,
        )
        transport.write(_REFUSAL)
        transport.close()
