"""aiormq's own log lines about a lost or refused connection, kept out of the logs.

The producer logs one line per connection event itself, saying what is wrong
and what happens next (docs/rabbitmq.md, *Reconnects and faults*). aiormq
also logs, per lost connection, an ERROR ``Unexpected connection close from
remote ...`` and a WARNING ``Cancelling cause reader exited abnormally`` with
a full traceback, and per failed attempt an ERROR ``error when creating
transport``. A filter on aiormq's ``aiormq.connection`` logger drops those
three, when they are about the connection going away; a reader that failed
for any other reason (a malformed frame) still logs its traceback. The root
logger's configuration is left alone (it belongs to service/logs.py).
"""

from __future__ import annotations

import logging

from aiormq import exceptions as amqp

LOGGER = "aiormq.connection"
ALWAYS = ("error when creating transport", "Unexpected connection close from remote")
IF_CONNECTION_LOST = ("Cancelling cause reader exited abnormally",)
LOST = (amqp.ConnectionClosed, ConnectionError, OSError, EOFError)


class ConnectionNoise(logging.Filter):
    """Drops aiormq's lines about a connection lost or refused."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = str(record.msg)
        if text.startswith(ALWAYS):
            return False
        if text.startswith(IF_CONNECTION_LOST):
            error = record.exc_info[1] if record.exc_info else None
            return error is not None and not isinstance(error, LOST)
        return True


def install() -> None:
    """Add the filter to aiormq's connection logger, once per process."""
    logger = logging.getLogger(LOGGER)
    if not any(isinstance(f, ConnectionNoise) for f in logger.filters):
        logger.addFilter(ConnectionNoise())
