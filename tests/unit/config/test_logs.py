"""Logging: one line per event, plain or JSON, payloads kept out."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from broadway_py import Message, NoopAcknowledger
from broadway_py.config import configure_logging


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield root
    finally:
        for handler in list(root.handlers):
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(level)


def test_json_lines_carry_extra_fields_and_tracebacks(root_logger: logging.Logger) -> None:
    stream = io.StringIO()
    configure_logging("info", "json", stream=stream)
    logging.getLogger("aiokafka.consumer").info("joined group %s", "g1", extra={"member": 3})
    logging.getLogger("broadway_py.test").debug("hidden at INFO")
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("broadway_py.test").exception("it failed")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["level"] == "INFO"
    assert first["logger"] == "aiokafka.consumer"
    assert first["message"] == "joined group g1"
    assert first["member"] == 3
    assert first["ts"].endswith("Z")
    assert second["level"] == "ERROR"
    assert "ValueError: boom" in second["exception"]


def test_plain_lines(root_logger: logging.Logger) -> None:
    stream = io.StringIO()
    configure_logging("WARNING", "plain", loggers={"noisy": "ERROR"}, stream=stream)
    logging.getLogger("aio_pika").warning("connection lost", extra={"attempt": 2})
    logging.getLogger("noisy").warning("dropped")
    logging.getLogger("x").info("dropped too")
    (line,) = stream.getvalue().splitlines()
    assert line.endswith(" WARNING aio_pika: connection lost attempt=2")


def test_configure_twice_keeps_one_handler(root_logger: logging.Logger) -> None:
    before = len(root_logger.handlers)
    configure_logging(stream=io.StringIO())
    configure_logging(stream=io.StringIO())
    assert len(root_logger.handlers) == before + 1


def test_payloads_are_not_logged_unless_asked(root_logger: logging.Logger) -> None:
    message = Message(b"card=4111111111111111", acknowledger=NoopAcknowledger(), metadata={"id": 7})
    stream = io.StringIO()
    configure_logging("INFO", "json", stream=stream)
    log = logging.getLogger("handler")
    log.info("failed %r", message, extra={"payload": "card=4111111111111111"})
    log.info(message)
    text = stream.getvalue()
    assert "4111" not in text
    first = json.loads(text.splitlines()[0])
    assert first["payload"] == "<redacted>"
    assert "Message(data=<21 bytes, not logged>, attempt=1" in first["message"]
    assert "'id': 7" in first["message"]

    stream = io.StringIO()
    configure_logging("INFO", "json", payloads=True, stream=stream)
    log.info("failed %r", message)
    assert "card=4111111111111111" in stream.getvalue()
