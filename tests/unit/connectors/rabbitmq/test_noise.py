"""aiormq's lines about a lost connection are filtered; others are not."""

from __future__ import annotations

import logging
import sys

from aiormq.exceptions import ConnectionClosed

from broadway_py.connectors.rabbitmq import noise


def record(message: str, error: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(error), error, None) if error is not None else None
    return logging.LogRecord(
        noise.LOGGER,
        logging.WARNING,
        __file__,
        1,
        message,
        (),
        exc_info,  # type: ignore[arg-type]
    )


def test_connection_loss_lines_are_dropped_and_other_lines_kept() -> None:
    keep = noise.ConnectionNoise().filter
    assert not keep(record("error when creating transport: %r"))
    assert not keep(record('Unexpected connection close from remote "%s", ...'))
    closed = ConnectionClosed(320, "CONNECTION_FORCED")
    assert not keep(record("Cancelling cause reader exited abnormally", closed))
    assert not keep(record("Cancelling cause reader exited abnormally", ConnectionResetError()))
    assert keep(record("Cancelling cause reader exited abnormally", ValueError("bad frame")))
    assert keep(record("Connection %r was blocked by: %r"))


def test_install_adds_one_filter_to_aiormqs_logger_only() -> None:
    root_filters = list(logging.getLogger().filters)
    noise.install()
    noise.install()
    logger = logging.getLogger(noise.LOGGER)
    assert sum(isinstance(f, noise.ConnectionNoise) for f in logger.filters) == 1
    assert logging.getLogger().filters == root_filters
    assert "aiormq" in sys.modules
