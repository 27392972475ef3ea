"""The live page at ``/``: what a running pipeline is doing, for a person with a browser.

Three static files shipped in this package (``index.html``, ``page.css``,
``page.js``; plain HTML, CSS and JavaScript, no build step, nothing fetched
from elsewhere). The script polls ``/status`` once a second and draws the
topology, the throughput of each stage (from the counters' deltas), the
producers' connections, backlog and Kafka lag, the outcomes and the latest
failures. It reads the document of one process and the ``--workers`` front's
(``{"workers": [...], "totals": {...}}``) alike.

``GET /`` answers the page to a client that asks for HTML (a browser) and the
endpoint list as JSON to any other (see :func:`wants_page`). Every answer of
the page carries :data:`SECURITY_HEADERS`: a Content-Security-Policy that
allows this origin's scripts, styles and requests only, and no inline script.
"""

from __future__ import annotations

import functools
from importlib import resources

from aiohttp import web

PAGE_FILE = "index.html"

ASSETS = {
    "/page.css": ("page.css", "text/css"),
    "/page.js": ("page.js", "text/javascript"),
}
"""The page's own files: the URL path each is served at, its file name and content type."""

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@functools.cache
def read(name: str) -> bytes:
    """The bytes of one of the page's files (read from the installed package once)."""
    return resources.files(__name__).joinpath(name).read_bytes()


def wants_page(request: web.Request) -> bool:
    """Whether the client asked for HTML (a browser does; curl and scripts do not)."""
    return "text/html" in request.headers.get("Accept", "").lower()


def page_response() -> web.Response:
    """The live page itself (``index.html``)."""
    response = _file_response(PAGE_FILE, "text/html")
    response.headers["Vary"] = "Accept"
    return response


def add_asset_routes(app: web.Application) -> None:
    """Serve the page's stylesheet and script (:data:`ASSETS`) on ``app``."""
    for path, (name, content_type) in ASSETS.items():
        app.router.add_get(path, functools.partial(_asset, name, content_type))


async def _asset(name: str, content_type: str, request: web.Request) -> web.Response:
    return _file_response(name, content_type)


def _file_response(name: str, content_type: str) -> web.Response:
    return web.Response(
        body=read(name), content_type=content_type, charset="utf-8", headers=SECURITY_HEADERS
    )
