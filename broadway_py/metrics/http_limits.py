"""How much the HTTP port gives a client: time, size and connections. One place for the bounds.

The port answers Prometheus, probes and operators, and anything else that
reaches it. A client that opens connections and never finishes a request
(slowloris), sends an endless body or a huge header would otherwise hold
sockets and memory for as long as it likes. :class:`HttpLimits` bounds each:

- ``header_timeout``: a connection must deliver a complete request head within
  this many seconds of opening (or of the previous response); an idle
  keep-alive connection is closed after it too;
- ``body_timeout``: a request body must arrive within this many seconds;
- ``max_connections``: connections past this many are answered 503 and closed;
- ``max_body``: bytes of a request body (413 beyond); ``max_json_depth``: nesting
  of a JSON body (400 beyond);
- ``max_line``, ``max_field``, ``max_headers``: the request line, one header, and
  how many headers (400 beyond);
- ``linger``: seconds spent reading and dropping a body the endpoint did not want.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HttpLimits:
    """The bounds of the HTTP port (the defaults suit scrapes, probes and operators)."""

    header_timeout: float = 10.0
    body_timeout: float = 10.0
    max_connections: int = 64
    max_body: int = 16 * 1024
    max_json_depth: int = 8
    max_line: int = 8190
    max_field: int = 8190
    max_headers: int = 64
    linger: float = 1.0

    def __post_init__(self) -> None:
        for name in ("header_timeout", "body_timeout", "linger"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ValueError(f"{name} must be a number of seconds above 0, not {value!r}")
        for name in (
            "max_connections",
            "max_body",
            "max_json_depth",
            "max_line",
            "max_field",
            "max_headers",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a whole number above 0, not {value!r}")
