"""The pipeline's HTTP port (aiohttp): live page, metrics, health, readiness, status, admin.

::

    server = await serve(pipeline, host="0.0.0.0", port=9000, stall_window=60, admin=False)
    await pipeline.run()
    await server.close()

=========================  ==================================================
``GET /``                  the live page to a browser (it asks for HTML), else
                           the endpoint list as JSON (:mod:`.page`)
``GET /metrics``           Prometheus text (OpenMetrics when the scraper asks)
``GET /healthz``           200 while the loop answers and the state is not failed
``GET /readyz``            200 when running, connected and not stalled, else 503
``GET /status``            the topology, counters and health as JSON
``POST /admin/rate_limit`` change the rate limit; 403 unless ``admin=True``
``POST /admin/resize``     change the processors / batch processors; same
=========================  ==================================================

No endpoint changes anything unless ``admin`` is switched on; with an
``admin_token``, an admin request must also carry ``Authorization: Bearer
<token>`` (else 401). The port is bounded for any client (:class:`HttpLimits`:
header and body timeouts, a connection cap, sizes), a request it cannot parse
gets a 4xx and at most one short log line per interval (:mod:`.server_log`),
and ``redact`` (when given) masks secrets in every text the JSON endpoints
return (a connection error's reason can quote a URL).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from aiohttp import web

from broadway_py.errors import ConfigurationError, PipelineNotRunning
from broadway_py.metrics.admin_token import bearer_matches
from broadway_py.metrics.capped_site import CappedTCPSite
from broadway_py.metrics.exporter import Exporter
from broadway_py.metrics.http_limits import HttpLimits
from broadway_py.metrics.json_body import BodyError, parse_json
from broadway_py.metrics.listening import Listening
from broadway_py.metrics.page import add_asset_routes, page_response, wants_page
from broadway_py.metrics.rate_limit_body import RateLimitBodyError, parse_rate_limit_change
from broadway_py.metrics.rate_limited_log import RateLimitedLog
from broadway_py.metrics.resize_body import ResizeBodyError, parse_resize
from broadway_py.metrics.server_log import LOG_INTERVAL, ServerLog
from broadway_py.metrics.status import build_status

if TYPE_CHECKING:
    from broadway_py.pipeline import Pipeline

log = logging.getLogger("broadway_py.metrics")
T = TypeVar("T")

ENDPOINTS = {
    "/": "this list; to a browser (Accept: text/html), the live page of the pipeline",
    "/metrics": "Prometheus metrics",
    "/healthz": "liveness: 200 unless the pipeline failed",
    "/readyz": "readiness: 200 when running, connected and making progress; else 503 and why",
    "/status": "topology, counters, connection, backlog and readiness as JSON",
    "/admin/rate_limit": "POST {allowed_messages, interval} (only with admin enabled; "
    "Authorization: Bearer <token> when BROADWAY_ADMIN_TOKEN is set)",
    "/admin/resize": 'POST {"processors": 8, "batchers": {"db": 2}} (as /admin/rate_limit)',
}

BEARER_CHALLENGE = 'Bearer realm="broadway-py admin"'
"""The ``WWW-Authenticate`` header of a 401 answer to an admin request."""

ADMIN_DISABLED = (
    "admin endpoints are disabled (enable them with http.admin: true, or serve(admin=True))"
)


@dataclass(eq=False)
class Server(Listening):
    """A running HTTP server for one pipeline (see :class:`.listening.Listening`)."""

    exporter: Exporter = field(kw_only=True)


async def serve(
    pipeline: Pipeline,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    stall_window: float = 60.0,
    admin: bool = False,
    exporter: Exporter | None = None,
    limits: HttpLimits | None = None,
    admin_token: str | None = None,
    redact: Callable[[str], str] | None = None,
) -> Server:
    """Start the HTTP server for ``pipeline`` on ``host:port`` (0: a free port).

    Call it before ``pipeline.start()`` so that every event is counted; it
    works in any state. ``stall_window`` is the readiness stall window in
    seconds (keep it above the longest ``batch_timeout`` and the rate-limit
    interval, which delay acks by design). Pass an ``exporter`` to share one
    (it is then left subscribed when the server closes). ``limits`` bounds
    what a client gets (timeouts, connections, sizes); ``admin_token``, when
    set, is the bearer token admin requests must carry; ``redact`` masks
    secrets in the texts the JSON endpoints return.

    Raises ``ValueError`` for a bad window, port or (blank) token, ``OSError``
    when the port cannot be bound.
    """
    if isinstance(stall_window, bool) or not stall_window > 0:
        raise ValueError(f"stall_window must be a number of seconds above 0, not {stall_window!r}")
    check_port(port)
    if admin_token is not None and not admin_token.strip():
        raise ValueError("admin_token must not be blank (None: no authentication)")
    _warn_short_window(pipeline, stall_window)
    limits = limits or HttpLimits()
    owns_exporter = exporter is None
    exporter = exporter or Exporter(pipeline)
    app = build_app(
        exporter,
        stall_window=stall_window,
        admin=admin,
        limits=limits,
        admin_token=admin_token,
        redact=redact,
    )
    try:
        runner, site = await start_site(app, host, port, limits)
    except BaseException:
        if owns_exporter:
            exporter.close()
        raise

    async def release() -> None:  # stop counting if serve() made the exporter
        if owns_exporter:
            exporter.close()

    server = Server(runner, site, release, exporter=exporter)
    log.info(
        "serving /metrics, /healthz, /readyz, /status on %s%s",
        server.url,
        _admin_mode(admin, admin_token),
    )
    return server


async def start_site(
    app: web.Application, host: str, port: int, limits: HttpLimits
) -> tuple[web.AppRunner, CappedTCPSite]:
    """Serve ``app`` on ``host:port`` within ``limits``: timeouts, sizes, a connection cap.

    Every port broadway_py serves starts here, so they share one hardening:
    aiohttp's parse errors logged short and rate-limited, connections past the
    cap answered 503. Raises ``OSError`` (naming the address) when the port
    cannot be bound; stop it with ``await runner.cleanup()``.
    """
    runner = web.AppRunner(
        app,
        access_log=None,
        shutdown_timeout=2.0,
        handler_cancellation=True,
        # aiohttp closes a connection that has not delivered a complete request
        # head this long after it opened (or after the last response): the
        # header timeout, and the idle keep-alive timeout too.
        keepalive_timeout=limits.header_timeout,
        max_line_size=limits.max_line,
        max_field_size=limits.max_field,
        max_headers=limits.max_headers,
        lingering_time=limits.linger,
        logger=ServerLog(log),
    )
    await runner.setup()
    try:
        site = CappedTCPSite(
            runner,
            host,
            port,
            max_connections=limits.max_connections,
            log=RateLimitedLog(log, LOG_INTERVAL),
        )
        await site.start()
    except OSError as error:
        await runner.cleanup()
        raise OSError(
            error.errno, f"cannot listen on {host}:{port} for /metrics: {error.strerror or error}"
        ) from error
    except BaseException:
        await runner.cleanup()
        raise
    return runner, site


async def read_body(request: web.Request, limits: HttpLimits) -> bytes | web.Response:
    """The request's body, or the error response (408 too slow, 413 too large) to send instead."""
    try:
        async with asyncio.timeout(limits.body_timeout):
            return await request.read()
    except TimeoutError:
        response = error_response(408, f"the body did not arrive within {limits.body_timeout:g}s")
        response.force_close()
        return response
    except web.HTTPRequestEntityTooLarge:
        response = error_response(413, f"the body is larger than {limits.max_body} bytes")
        response.force_close()
        return response


def check_port(port: int) -> None:
    """Raise ``ValueError`` unless ``port`` is a port number (0: any free port)."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"port must be a whole number from 0 to 65535, not {port!r}")


def _admin_mode(admin: bool, admin_token: str | None) -> str:
    if not admin:
        return ""
    if admin_token is None:
        return " (admin endpoints enabled, without authentication)"
    return " (admin endpoints enabled, bearer token required)"


def build_app(
    exporter: Exporter,
    *,
    stall_window: float,
    admin: bool,
    limits: HttpLimits | None = None,
    admin_token: str | None = None,
    redact: Callable[[str], str] | None = None,
) -> web.Application:
    """The aiohttp application (for embedding in an app of your own)."""
    limits = limits or HttpLimits()
    routes = _Routes(exporter, stall_window, admin, limits, admin_token, redact)
    app = web.Application(client_max_size=limits.max_body)
    app.router.add_get("/", routes.index)
    add_asset_routes(app)
    app.router.add_get("/metrics", routes.metrics)
    app.router.add_get("/healthz", routes.healthz)
    app.router.add_get("/readyz", routes.readyz)
    app.router.add_get("/status", routes.status)
    app.router.add_post("/admin/rate_limit", routes.rate_limit)
    app.router.add_post("/admin/resize", routes.resize)
    return app


@dataclass(eq=False)
class _Routes:
    exporter: Exporter
    stall_window: float
    admin: bool
    limits: HttpLimits
    _admin_token: str | None
    _redact: Callable[[str], str] | None
    _refusals: RateLimitedLog = field(
        default_factory=lambda: RateLimitedLog(log, LOG_INTERVAL), init=False
    )

    def _json(self, document: Any, status: int = 200) -> web.Response:
        if self._redact is not None:
            document = masked(document, self._redact)
        return web.json_response(document, status=status)

    async def index(self, request: web.Request) -> web.Response:
        if wants_page(request):
            return page_response()
        return web.json_response({"pipeline": self.exporter.pipeline.name, "endpoints": ENDPOINTS})

    async def metrics(self, request: web.Request) -> web.Response:
        body, content_type = self.exporter.render(request.headers.get("Accept", ""))
        return web.Response(body=body, headers={"Content-Type": content_type})

    async def healthz(self, request: web.Request) -> web.Response:
        health = self.exporter.health()
        return self._json(health.as_json(), status=200 if health.alive else 503)

    async def readyz(self, request: web.Request) -> web.Response:
        readiness = self.exporter.readiness(self.stall_window)
        return self._json(readiness.as_json(), status=200 if readiness.ready else 503)

    async def status(self, request: web.Request) -> web.Response:
        return self._json(build_status(self.exporter, self.stall_window, self.admin))

    def _refused(self, request: web.Request) -> web.Response | None:
        """The 403 or 401 answer to an admin request not allowed; None when allowed."""
        if not self.admin:
            return error_response(403, ADMIN_DISABLED)
        token = self._admin_token
        if token is not None and not bearer_matches(request.headers.get("Authorization"), token):
            self._refusals.log(
                logging.WARNING,
                "refused an admin request from %s: no valid bearer token",
                request.remote,
            )
            response = error_response(
                401, "admin requests need the header Authorization: Bearer <token>"
            )
            response.headers["WWW-Authenticate"] = BEARER_CHALLENGE
            return response
        return None

    async def _admin_body(
        self, request: web.Request, parse: Callable[[Any], T], errors: type[Exception]
    ) -> T | web.Response:
        """An admin request's parsed body, or the refusal (auth, size, JSON, ``errors``: 400)."""
        refused = self._refused(request)
        if refused is not None:
            return refused
        limits = self.limits
        raw = await read_body(request, limits)
        if isinstance(raw, web.Response):
            return raw
        try:
            return parse(parse_json(raw, limits.max_json_depth))
        except (BodyError, errors) as error:
            return error_response(400, str(error))

    async def rate_limit(self, request: web.Request) -> web.Response:
        change = await self._admin_body(request, parse_rate_limit_change, RateLimitBodyError)
        if isinstance(change, web.Response):
            return change
        pipeline = self.exporter.pipeline
        if pipeline.rate_limiter is None:
            return error_response(409, "this pipeline was built without a rate limit")
        try:
            pipeline.update_rate_limit(change.allowed_messages, change.interval)
        except ConfigurationError as error:
            return error_response(400, str(error))
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

    async def resize(self, request: web.Request) -> web.Response:
        change = await self._admin_body(request, parse_resize, ResizeBodyError)
        if isinstance(change, web.Response):
            return change
        pipeline = self.exporter.pipeline
        try:
            sizes = await pipeline.resize(change.processors, change.batchers)
        except ConfigurationError as error:
            return error_response(400, str(error))
        except PipelineNotRunning as error:
            return error_response(409, str(error))
        except TimeoutError as error:
            return error_response(503, str(error))
        log.warning(
            "pipeline %r resized to %s by an admin request from %s",
            pipeline.name,
            sizes,
            request.remote,
        )
        return web.json_response({"sizes": sizes})


def masked(value: Any, redact: Callable[[str], str]) -> Any:
    """``value`` (plain JSON data) with every string passed through ``redact``."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(str(k)): masked(v, redact) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [masked(v, redact) for v in value]
    return value


def error_response(status: int, message: str) -> web.Response:
    """A JSON ``{"error": message}`` answer."""
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
