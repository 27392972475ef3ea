"""Listening: a port broadway_py serves, where it listens, and one idempotent close.

The pipeline's own port (:func:`~broadway_py.metrics.server.serve`) and the
``--workers`` front (``service/worker_front.py``) both start their site with
:func:`~broadway_py.metrics.server.start_site` and hand it here; each says what
else closing lets go of (the exporter serve() made, the front's client).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Self

from aiohttp import web

from broadway_py.metrics.capped_site import CappedTCPSite


async def _nothing() -> None:
    return None


@dataclass(eq=False)
class Listening:
    """A started site; ``port`` is the port actually bound."""

    _runner: web.AppRunner
    _site: CappedTCPSite
    #: What closing lets go of once the site stopped listening.
    _release: Callable[[], Awaitable[None]] = _nothing
    _closed: bool = field(default=False, init=False)

    @property
    def host(self) -> str:
        return self._site.host

    @property
    def port(self) -> int:
        return self._site.port

    @property
    def url(self) -> str:
        """The base URL (``http://host:port``), for logs and tests."""
        return self._site.name

    async def close(self) -> None:
        """Stop listening, then let go of the rest. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            await self._runner.cleanup()
        finally:
            await self._release()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
