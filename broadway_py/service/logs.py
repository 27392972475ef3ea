"""Logging for the service: stdlib logging, one line per event, plain text or JSON.

:func:`configure_logging` installs one handler on the root logger, so records
of broadway_py, the user's handlers and the broker clients (aiokafka,
aio_pika, botocore) all come out in the same format on stderr.

- plain: ``2024-05-01T12:00:00.123Z INFO broadway_py.pipeline: message key=value``
- json: ``{"ts": "...", "level": "INFO", "logger": "...", "message": "...", "key": "value"}``

Fields passed with ``extra={...}`` are appended (plain; not when the record
also has ``_in_message=True``, meaning the text already says them) or added
(json; names starting with ``_`` are left out).
Payloads are not logged unless ``payloads`` is true: a
:class:`~broadway_py.message.Message` in a record's arguments is shown
without its data, and ``extra`` fields named payload, data or body are
replaced by ``<redacted>``.

Secrets are never written, whatever the level or the logger: the handler's
:class:`~broadway_py.service.log_redaction.RedactionFilter` masks URL passwords,
secret-named values, ``Authorization`` headers, AWS key ids and tokens, and the
literal values of secret-named environment variables (``AWS_SECRET_ACCESS_KEY``,
``AWS_SESSION_TOKEN``...) and of the config's secrets
(:func:`add_log_secrets`), in messages, tracebacks and extra fields.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Iterable, Mapping
from typing import Any, TextIO

from broadway_py.config.secret_text import SecretMasker
from broadway_py.config.secret_values import environment_secrets
from broadway_py.message import Message
from broadway_py.service.log_fields import extra_fields
from broadway_py.service.log_redaction import RedactionFilter

_PAYLOAD_FIELDS = frozenset({"payload", "data", "body"})
_MARK = "_broadway_py_handler"


def _timestamp(record: logging.LogRecord) -> str:
    seconds = int(record.created)
    millis = int((record.created - seconds) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


class PlainFormatter(logging.Formatter):
    """``<ts> <LEVEL> <logger>: <message> key=value ...`` (a traceback follows on its lines)."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{_timestamp(record)} {record.levelname} {record.name}: {record.getMessage()}"
        if not getattr(record, "_in_message", False):
            for key, value in extra_fields(record).items():
                line += f" {key}={value}"
        exception = _exception_text(self, record)
        if exception:
            line += "\n" + exception
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, the extra fields, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in extra_fields(record).items():
            entry.setdefault(key, value)
        exception = _exception_text(self, record)
        if exception:
            entry["exception"] = exception
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def _exception_text(formatter: logging.Formatter, record: logging.LogRecord) -> str:
    """The traceback: as the redaction filter left it in ``exc_text``, else formatted now."""
    if record.exc_text:
        return record.exc_text
    if record.exc_info:
        return formatter.formatException(record.exc_info)
    return ""


def describe_without_payload(message: Message) -> str:
    data = message.data
    sized = isinstance(data, bytes | bytearray | str)
    size = f"{len(data)} bytes" if sized else type(data).__name__
    return (
        f"Message(data=<{size}, not logged>, attempt={message.attempt}, "
        f"status={message.status!r}, metadata={message.metadata!r})"
    )


class PayloadFilter(logging.Filter):
    """Keeps message payloads out of log records (unless ``logging.payloads`` is true)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and any(isinstance(a, Message) for a in args):
            record.args = tuple(
                describe_without_payload(a) if isinstance(a, Message) else a for a in args
            )
        elif isinstance(args, Mapping) and any(isinstance(a, Message) for a in args.values()):
            record.args = {
                k: describe_without_payload(a) if isinstance(a, Message) else a
                for k, a in args.items()
            }
        if isinstance(record.msg, Message):
            record.msg = describe_without_payload(record.msg)
        for name in _PAYLOAD_FIELDS & vars(record).keys():
            setattr(record, name, "<redacted>")
        return True


def configure_logging(
    level: str = "INFO",
    format: str = "plain",
    payloads: bool = False,
    loggers: Mapping[str, str] | None = None,
    stream: TextIO | None = None,
    secrets: Iterable[str] = (),
    env: Mapping[str, str] | None = None,
) -> logging.Handler:
    """Route every log record to one handler on the root logger; returns it.

    ``secrets`` are literal values never to be written (the values of
    secret-named variables of ``env``, ``os.environ`` by default, are added).
    Calling it again replaces the handler it installed before.
    """
    root = logging.getLogger()
    for installed in [h for h in root.handlers if getattr(h, _MARK, False)]:
        root.removeHandler(installed)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    setattr(handler, _MARK, True)
    handler.setFormatter(JsonFormatter() if format == "json" else PlainFormatter())
    if not payloads:
        handler.addFilter(PayloadFilter())
    masker = SecretMasker(environment_secrets(os.environ if env is None else env))
    masker.add(secrets)
    handler.addFilter(RedactionFilter(masker))  # last: it masks what the others left
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name, logger_level in (loggers or {}).items():
        logging.getLogger(name).setLevel(logger_level.upper())
    logging.captureWarnings(True)
    return handler


def add_log_secrets(secrets: Iterable[str]) -> None:
    """Never write these values either, through the handler configure_logging installed."""
    values = list(secrets)
    for handler in logging.getLogger().handlers:
        if getattr(handler, _MARK, False):
            for installed in handler.filters:
                if isinstance(installed, RedactionFilter):
                    installed.masker.add(values)
