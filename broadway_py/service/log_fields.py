"""Which attributes of a log record are the caller's ``extra={...}`` fields.

A record carries the standard attributes of :class:`logging.LogRecord` plus
whatever the caller passed as ``extra``; the formatters print the extras and
the redaction filter masks them, so both ask here which ones they are. Names
starting with ``_`` are markers for the formatters (``_in_message``), not fields.
"""

from __future__ import annotations

import logging
from typing import Any

_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The ``extra={...}`` fields of a record."""
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}
