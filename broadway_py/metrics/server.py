"""The pipeline's HTTP port (aiohttp): metrics, health, readiness, status, admin.

::

    server = await serve(pipeline, host="0.0.0.0", port=9000, stall_window=60, admin=False)
    await pipeline.run()
    await server.close()

=========================  ==================================================
``GET /metrics``           Prometheus text (OpenMetrics when the scraper asks)
``GET /healthz``           200 while the loop answers and the state is not failed
``GET /readyz``            200 when running, connected and not stalled, else 503
``GET /status``            the topology, counters and health as JSON
``POST /admin/rate_limit`` change the rate limit; 403 unless ``admin=True``
=========================  ==================================================

No endpoint changes anything unless ``admin`` is switched on. The admin
endpoint has no authentication of its own: only switch it on where the port
is reachable by operators alone.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from aiohttp import web

from broadway_py.errors import ConfigurationError
from broadway_py.metrics.exporter import Exporter
from broadway_py.metrics.status import build_status

if TYPE_CHECKING:
    from broadway_py.pipeline import Pipeline

log = logging.getLogger("broadway_py.metrics")

ENDPOINTS = {
    "/metrics": "Prometheus metrics",
    "/healthz": "liveness: 200 unless the pipeline failed",
    "/readyz": "readiness: 200 when running, connected and making progress; else 503 and why",
    "/status": "topology, counters, connection, backlog and readiness as JSON",
    "/admin/rate_limit": "POST {allowed_messages, interval} (only with admin enabled)",
}

ADMIN_DISABLED = (
    "admin endpoints are disabled (enable them with http.admin: true, or serve(admin=True))"
)


class Server:
    """A running HTTP server for one pipeline; ``port`` is the port actually bound."""

    def __init__(
        self, runner: web.AppRunner, exporter: Exporter, host: str, port: int, owns_exporter: bool
    ) -> None:
        self._runner = runner
        self.exporter = exporter
        self.host = host
        self.port = port
        self._owns_exporter = owns_exporter
        self._closed = False

    @property
    def url(self) -> str:
        """The base URL (``http://host:port``), for logs and tests."""
        host = self.host or "0.0.0.0"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    async def close(self) -> None:
        """Stop listening, and stop counting if serve() made the exporter. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            await self._runner.cleanup()
        finally:
            if self._owns_exporter:
                self.exporter.close()

    async def __aenter__(self) -> Server:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


async def serve(
    pipeline: Pipeline,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    stall_window: float = 60.0,
    admin: bool = False,
    exporter: Exporter | None = None,
) -> Server:
    """Start the HTTP server for ``pipeline`` on ``host:port`` (0: a free port).

    Call it before ``pipeline.start()`` so that every event is counted; it
    works in any state. ``stall_window`` is the readiness stall window in
    seconds (keep it above the longest ``batch_timeout`` and the rate-limit
    interval, which delay acks by design). Pass an ``exporter`` to share one
    (it is then left subscribed when the server closes).

    Raises ``ValueError`` for a bad window or port, ``OSError`` when the port
    cannot be bound.
    """
    if isinstance(stall_window, bool) or not stall_window > 0:
        raise ValueError(f"stall_window must be a number of seconds above 0, not {stall_window!r}")
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"port must be a whole number from 0 to 65535, not {port!r}")
    _warn_short_window(pipeline, stall_window)
    owns_exporter = exporter is None
    exporter = exporter or Exporter(pipeline)
    app = build_app(exporter, stall_window=stall_window, admin=admin)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
    except OSError as error:
        await runner.cleanup()
        if owns_exporter:
            exporter.close()
        raise OSError(
            error.errno, f"cannot listen on {host}:{port} for /metrics: {error.strerror or error}"
        ) from error
    except BaseException:
        await runner.cleanup()
        if owns_exporter:
            exporter.close()
        raise
    bound = runner.addresses[0][1] if runner.addresses else port
    server = Server(runner, exporter, host, bound, owns_exporter)
    log.info(
        "serving /metrics, /healthz, /readyz, /status on %s%s",
        server.url,
        " (admin endpoints enabled)" if admin else "",
    )
    return server


def build_app(exporter: Exporter, *, stall_window: float, admin: bool) -> web.Application:
    """The aiohttp application (for embedding in an app of your own)."""
    routes = _Routes(exporter, stall_window, admin)
    app = web.Application()
    app.router.add_get("/", routes.index)
    app.router.add_get("/metrics", routes.metrics)
    app.router.add_get("/healthz", routes.healthz)
    app.router.add_get("/readyz", routes.readyz)
    app.router.add_get("/status", routes.status)
    app.router.add_post("/admin/rate_limit", routes.rate_limit)
    return app


class _Routes:
    def __init__(self, exporter: Exporter, stall_window: float, admin: bool) -> None:
        self.exporter = exporter
        self.stall_window = stall_window
        self.admin = admin

    async def index(self, request: web.Request) -> web.Response:
        return web.json_response({"pipeline": self.exporter.pipeline.name, "endpoints": ENDPOINTS})

    async def metrics(self, request: web.Request) -> web.Response:
        body, content_type = self.exporter.render(request.headers.get("Accept", ""))
        return web.Response(body=body, headers={"Content-Type": content_type})

    async def healthz(self, request: web.Request) -> web.Response:
        health = self.exporter.health()
        return web.json_response(health.as_json(), status=200 if health.alive else 503)

    async def readyz(self, request: web.Request) -> web.Response:
        readiness = self.exporter.readiness(self.stall_window)
        return web.json_response(readiness.as_json(), status=200 if readiness.ready else 503)

    async def status(self, request: web.Request) -> web.Response:
        return web.json_response(build_status(self.exporter, self.stall_window, self.admin))

    async def rate_limit(self, request: web.Request) -> web.Response:
        if not self.admin:
            return _error(403, ADMIN_DISABLED)
        pipeline = self.exporter.pipeline
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _error(400, "the body must be a JSON object")
        problem = _check_rate_limit_body(body)
        if problem:
            return _error(400, problem)
        if pipeline.rate_limiter is None:
            return _error(409, "this pipeline was built without a rate limit")
        try:
            pipeline.update_rate_limit(body.get("allowed_messages"), body.get("interval"))
        except ConfigurationError as error:
            return _error(400, str(error))
        limiter = pipeline.rate_limiter
        settings = {"allowed_messages": limiter.allowed_messages, "interval": limiter.interval}
        log.warning(
            "rate limit of %r changed to %d messages per %gs by an admin request from %s",
            pipeline.name,
            limiter.allowed_messages,
            limiter.interval,
            request.remote,
        )
        return web.json_response({"rate_limit": settings})


def _check_rate_limit_body(body: Any) -> str:
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    unknown = sorted(set(body) - {"allowed_messages", "interval"})
    if unknown:
        return f"unknown keys {unknown}; expected allowed_messages and/or interval"
    if not body:
        return "give allowed_messages and/or interval"
    allowed = body.get("allowed_messages")
    if allowed is not None and (isinstance(allowed, bool) or not isinstance(allowed, int)):
        return "allowed_messages must be a whole number"
    interval = body.get("interval")
    if interval is not None and (
        isinstance(interval, bool) or not isinstance(interval, int | float)
    ):
        return "interval must be a number of seconds"
    return ""


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _warn_short_window(pipeline: Pipeline, stall_window: float) -> None:
    delays = {
        f"batchers.{n}.batch_timeout": b.batch_timeout for n, b in pipeline.batcher_options.items()
    }
    if pipeline.rate_limit is not None:
        delays["rate_limit.interval"] = pipeline.rate_limit.interval
    for option, delay in delays.items():
        if delay >= stall_window:
            log.warning(
                "stall window %gs is not above %s (%gs): /readyz may report a healthy but "
                "slow pipeline as stalled",
                stall_window,
                option,
                delay,
            )
