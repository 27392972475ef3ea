"""The parent's one HTTP port under ``broadway-py run --workers N``: the workers, as one.

Each worker process serves its own port (``broadway_py.metrics.serve``) on
127.0.0.1 at a port of its own; the parent serves this front on the public
port, and asks the workers on every request (concurrently, each within
``timeout`` seconds):

=========================  ===================================================
``GET /metrics``           the workers' metrics added up, same names and labels
                           (:mod:`broadway_py.metrics.sum_exposition` has the
                           rules), plus ``broadway_workers``,
                           ``broadway_workers_unanswered`` and
                           ``broadway_worker_restarts_total``; a worker that
                           does not answer is left out and counted
``GET /healthz``           200 while at least one worker is live (has a port)
``GET /readyz``            200 only when every worker answers its /readyz 200;
                           else 503 with each worker's reasons
``GET /status``            each worker's /status (or its error), and totals
``POST /admin/...``        forwarded to every worker, body and
                           ``Authorization`` header as they came; the answer
                           lists each worker's, with the status they all gave
                           (502 when they differ or one did not answer)
=========================  ===================================================

The supervisor (``service/workers.py``) describes the workers through
``views()``, read afresh per request. The port has the same bounds as a
worker's (:class:`~broadway_py.metrics.http_limits.HttpLimits`, via
:func:`~broadway_py.metrics.server.start_site`), every text of the JSON
answers passes through ``redact``, and no answer names a worker's port.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder

from broadway_py.metrics.http_limits import HttpLimits
from broadway_py.metrics.listening import Listening
from broadway_py.metrics.page import add_asset_routes, page_response, wants_page
from broadway_py.metrics.server import (
    BEARER_CHALLENGE,
    ENDPOINTS,
    check_port,
    error_response,
    masked,
    read_body,
    start_site,
)
from broadway_py.metrics.sum_exposition import Families, combine, parse
from broadway_py.metrics.sum_status import status_totals

log = logging.getLogger("broadway_py.service")

WORKER_TIMEOUT = 2.0
"""Seconds the front waits for a worker's answer before leaving that worker out."""

NOT_RUNNING = "not running (starting or restarting)"

_FORWARDED_HEADERS = ("Authorization", "Content-Type")


@dataclass
class WorkerView:
    """What the supervisor knows of one worker process."""

    index: int
    pid: int | None
    url: str | None
    """Base URL of the worker's own HTTP server; ``None`` while it (re)starts."""
    restarts: int


async def serve_front(
    host: str,
    port: int,
    views: Callable[[], Sequence[WorkerView]],
    name: str,
    redact: Callable[[str], str],
    *,
    timeout: float = WORKER_TIMEOUT,
    limits: HttpLimits | None = None,
) -> Listening:
    """Serve the front of the workers ``views()`` describes on ``host:port`` (0: a free port).

    ``name`` is the pipeline's (the ``pipeline`` label of the front's own
    metrics). Raises ``ValueError`` for a bad port or timeout, ``OSError`` when
    the port cannot be bound.
    """
    check_port(port)
    if isinstance(timeout, bool) or not timeout > 0:
        raise ValueError(f"timeout must be a number of seconds above 0, not {timeout!r}")
    limits = limits or HttpLimits()
    # A fresh connection per request: a kept-alive one the worker closed (its
    # idle timeout, a restart) would fail the next scrape of that worker.
    client = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(force_close=True),
        timeout=aiohttp.ClientTimeout(total=timeout),
    )
    routes = _Routes(views, name, redact, client, limits, timeout)
    app = web.Application(client_max_size=limits.max_body)
    app.router.add_get("/", routes.index)
    app.router.add_get("/metrics", routes.metrics)
    app.router.add_get("/healthz", routes.healthz)
    app.router.add_get("/readyz", routes.readyz)
    app.router.add_get("/status", routes.status)
    add_asset_routes(app)
    for path in ENDPOINTS:
        if path.startswith("/admin/"):
            app.router.add_post(path, routes.forward)
    try:
        runner, site = await start_site(app, host, port, limits)
    except BaseException:
        await client.close()
        raise
    front = Listening(runner, site, client.close)
    log.info(
        "serving /metrics, /healthz, /readyz, /status of %d workers on %s",
        len(views()),
        front.url,
    )
    return front


@dataclass(frozen=True)
class _Answer:
    """One worker's answer to one request: its status and body, or why there is none."""

    view: WorkerView
    status: int | None = None
    body: str = ""
    error: str | None = None

    def document(self) -> Any:
        """The body as JSON, or ``None`` when it is not."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def trouble(self) -> str:
        """Why this answer is not a 200 (for a reason or an error field)."""
        if self.error is not None:
            return self.error
        return f"answered {self.status}"


@dataclass(eq=False)
class _Routes:
    views: Callable[[], Sequence[WorkerView]]
    name: str
    redact: Callable[[str], str]
    client: aiohttp.ClientSession
    limits: HttpLimits
    timeout: float

    def _json(self, document: Any, status: int = 200) -> web.Response:
        return web.json_response(masked(document, self.redact), status=status)

    async def _ask_all(
        self,
        views: Sequence[WorkerView],
        method: str,
        path: str,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> list[_Answer]:
        return list(
            await asyncio.gather(*(self._ask(v, method, path, data, headers) for v in views))
        )

    async def _ask(
        self,
        view: WorkerView,
        method: str,
        path: str,
        data: bytes | None,
        headers: dict[str, str] | None,
    ) -> _Answer:
        if view.url is None:
            return _Answer(view, error=NOT_RUNNING)
        try:
            async with self.client.request(
                method, view.url + path, data=data, headers=headers
            ) as response:
                return _Answer(view, response.status, await response.text())
        except TimeoutError:
            return _Answer(view, error=f"no answer within {self.timeout:g}s")
        except (aiohttp.ClientError, UnicodeDecodeError) as error:
            # The exception's text names the worker's address: its kind only.
            return _Answer(view, error=f"no answer ({type(error).__name__})")

    async def index(self, request: web.Request) -> web.Response:
        if wants_page(request):
            return page_response()
        return web.json_response(
            {"pipeline": self.name, "workers": len(self.views()), "endpoints": ENDPOINTS}
        )

    async def metrics(self, request: web.Request) -> web.Response:
        views = list(self.views())
        answers = await self._ask_all(views, "GET", "/metrics")
        expositions: list[list[Metric]] = []
        unanswered = 0
        for answer in answers:
            if answer.view.url is None:
                continue
            if answer.status == 200:
                try:
                    expositions.append(parse(answer.body))
                    continue
                except ValueError:
                    pass
            unanswered += 1
        families = [*combine(expositions), *self._worker_families(views, unanswered)]
        encode, content_type = choose_encoder(request.headers.get("Accept", ""))
        return web.Response(body=encode(Families(families)), headers={"Content-Type": content_type})

    def _worker_families(self, views: Sequence[WorkerView], unanswered: int) -> list[Metric]:
        p = self.name
        workers = GaugeMetricFamily(
            "broadway_workers",
            "Worker processes: configured, and live (running, with a port).",
            labels=["pipeline", "state"],
        )
        workers.add_metric([p, "configured"], len(views))
        workers.add_metric([p, "live"], sum(1 for v in views if v.url is not None))
        missing = GaugeMetricFamily(
            "broadway_workers_unanswered",
            "Live workers whose /metrics did not answer this scrape (left out of every sum).",
            labels=["pipeline"],
        )
        missing.add_metric([p], unanswered)
        restarts = CounterMetricFamily(
            "broadway_worker_restarts",
            "Times the parent restarted each worker process.",
            labels=["pipeline", "worker"],
        )
        for view in views:
            restarts.add_metric([p, str(view.index)], view.restarts)
        return [workers, missing, restarts]

    async def healthz(self, request: web.Request) -> web.Response:
        views = self.views()
        live = sum(1 for v in views if v.url is not None)
        document = {"alive": live > 0, "workers": len(views), "live": live}
        return self._json(document, status=200 if live > 0 else 503)

    async def readyz(self, request: web.Request) -> web.Response:
        answers = await self._ask_all(list(self.views()), "GET", "/readyz")
        reasons: list[str] = []
        for answer in answers:
            if answer.status == 200:
                continue
            document = answer.document()
            worker_reasons = document.get("reasons") if isinstance(document, dict) else None
            if isinstance(worker_reasons, list) and worker_reasons:
                why = "; ".join(str(r) for r in worker_reasons)
            else:
                why = answer.trouble()
            reasons.append(f"worker {answer.view.index}: {why}")
        if not answers:
            reasons.append("no workers")
        ready = not reasons
        return self._json({"ready": ready, "reasons": reasons}, status=200 if ready else 503)

    async def status(self, request: web.Request) -> web.Response:
        views = list(self.views())
        answers = await self._ask_all(views, "GET", "/status")
        workers: list[dict[str, Any]] = []
        documents: list[dict[str, Any]] = []
        for answer in answers:
            view = answer.view
            entry: dict[str, Any] = {
                "index": view.index,
                "pid": view.pid,
                "restarts": view.restarts,
            }
            document = answer.document()
            if answer.status == 200 and isinstance(document, dict):
                entry["status"] = document
                documents.append(document)
            else:
                entry["error"] = answer.trouble()
            workers.append(entry)
        totals = {
            "workers": len(views),
            "live": sum(1 for v in views if v.url is not None),
            "answered": len(documents),
            "worker_restarts": sum(v.restarts for v in views),
            **status_totals(documents),
        }
        return self._json({"name": self.name, "workers": workers, "totals": totals})

    async def forward(self, request: web.Request) -> web.Response:
        raw = await read_body(request, self.limits)
        if isinstance(raw, web.Response):
            return raw
        headers = {h: request.headers[h] for h in _FORWARDED_HEADERS if h in request.headers}
        answers = await self._ask_all(list(self.views()), "POST", request.path, raw, headers)
        workers: list[dict[str, Any]] = []
        for answer in answers:
            entry: dict[str, Any] = {"index": answer.view.index, "pid": answer.view.pid}
            if answer.status is None:
                entry["error"] = answer.trouble()
            else:
                entry["status"] = answer.status
                entry["answer"] = answer.document()
            workers.append(entry)
        if not answers:
            return error_response(503, "no workers")
        first = answers[0].status
        same = first is not None and all(a.status == first for a in answers)
        status = first if same and first is not None else 502
        response = self._json({"workers": workers}, status=status)
        if status == 401:
            response.headers["WWW-Authenticate"] = BEARER_CHALLENGE
        return response
