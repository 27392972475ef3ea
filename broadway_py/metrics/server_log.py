"""What the HTTP server's own machinery logs: one short, rate-limited line per kind of fault.

aiohttp logs a request it cannot parse (a malformed request line, a bad or
oversized header, bytes that are not HTTP) at ERROR with a full traceback.
Anyone who reaches the port can send those, so each would be a way to flood the
logs. :class:`ServerLog` stands in for aiohttp's server logger:

- a request aiohttp could not parse (answered 400): one line at INFO, the
  parser's reason in a few words and no traceback, at most one per interval;
- any other fault (a bug answered 500): one line at ERROR with its traceback,
  at most one per interval;
- aiohttp's debug chatter: DEBUG, without tracebacks.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from aiohttp.http_exceptions import HttpProcessingError

from broadway_py.metrics.rate_limited_log import RateLimitedLog

LOG_INTERVAL = 10.0
"""Seconds between two lines about bad requests (or about server faults)."""

_REASON_CHARS = 80


class ServerLog(logging.LoggerAdapter[logging.Logger]):
    """A logger for aiohttp's ``RequestHandler(logger=...)`` that cannot be flooded."""

    def __init__(self, logger: logging.Logger, interval: float = LOG_INTERVAL) -> None:
        super().__init__(logger, {})
        self.bad_requests = RateLimitedLog(logger, interval)
        self.faults = RateLimitedLog(logger, interval)

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        error = _exception(kwargs.get("exc_info"))
        text = _format(msg, args)
        if isinstance(error, HttpProcessingError):
            self.bad_requests.log(logging.INFO, "%s: %s", text, short_reason(error))
        elif level < logging.WARNING:
            self.logger.debug("%s", text)
        else:
            self.faults.log(max(level, logging.ERROR), "%s", text, exc_info=error)


def short_reason(error: HttpProcessingError) -> str:
    """The parser's reason, first line only, printable, at most a few words."""
    message = str(error.message or type(error).__name__).strip()
    first = message.splitlines()[0] if message else type(error).__name__
    printable = "".join(c if c.isprintable() else "?" for c in first.rstrip(":"))
    if len(printable) > _REASON_CHARS:
        printable = printable[: _REASON_CHARS - 3] + "..."
    return f"{error.code} {printable}"


def _exception(exc_info: Any) -> BaseException | None:
    if isinstance(exc_info, BaseException):
        return exc_info
    if isinstance(exc_info, tuple) and len(exc_info) == 3:
        value = exc_info[1]
        return value if isinstance(value, BaseException) else None
    if exc_info:
        return sys.exc_info()[1]
    return None


def _format(msg: object, args: tuple[object, ...]) -> str:
    text = str(msg)
    if args:
        try:
            text = text % args
        except (TypeError, ValueError):
            text = f"{text} {args!r}"
    return text
