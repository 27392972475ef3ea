"""One connection to the RabbitMQ server of a pipeline's options: how every part opens it.

The consuming session, ``provision``, ``send`` and the dead-letter store all
connect the same way: within ``connect_timeout`` (aio-pika's own timeout does
not cover every step of the handshake), with any failure translated by
:func:`~.errors.translate`.
"""

from __future__ import annotations

import asyncio

import aio_pika
from aio_pika.abc import AbstractConnection

from broadway_py.connectors.rabbitmq.errors import translate
from broadway_py.connectors.rabbitmq.options import Options


async def connect(options: Options, queue: str | None = None) -> AbstractConnection:
    """A connection to ``options.url``; raises a broadway_py error naming ``queue`` if given."""
    try:
        async with asyncio.timeout(options.connect_timeout):
            return await aio_pika.connect(
                options.url.get_secret_value(), timeout=options.connect_timeout
            )
    except Exception as error:
        raise translate(error, options, queue=queue) from error
