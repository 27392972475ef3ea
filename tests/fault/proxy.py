"""A TCP forwarder between a client and a broker that a fault test can break.

Why: the faults operators meet on the wire are not "the broker is down" but a
connection that is closed (``cut``), one that goes silent with both sockets
still open (``stall``: a partition, a dead NAT entry) and one torn down with a
TCP RST (``reset``: a load balancer or a crashed peer). This proxy makes each
of them on demand, on the connections it carries, while its listener stays up
so that the client can connect again.

``arm(fault)`` makes the fault fire at a chosen moment: just before the next
chunk of bytes the client sends to the broker is forwarded. Armed after the
pipeline has handled some messages, that chunk is an acknowledgement
(``basic.ack``) or the publish of a retry copy on RabbitMQ; a fetch, a commit
or a publish on Kafka; a delete, a visibility change or a receive on SQS. The
fault lands in the middle of the pipeline's conversation with the broker, and
the chunk that triggered it never reaches the broker (cut, reset) or reaches
it late (stall).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Awaitable, Callable
from typing import Literal

from tests.ports import free_port

Fault = Literal["cut", "stall", "reset"]


class _Link:
    """One client connection and its upstream twin."""

    def __init__(self, client: asyncio.StreamWriter, upstream: asyncio.StreamWriter) -> None:
        self.writers = (client, upstream)

    def abort(self, rst: bool) -> None:
        for writer in self.writers:
            sock = writer.get_extra_info("socket")
            if rst and sock is not None:
                with contextlib.suppress(OSError):
                    # linger on, timeout 0: close() sends RST instead of FIN.
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()


class Proxy:
    """Forwards 127.0.0.1:``port`` to ``target``; refuses connections until ``start``."""

    def __init__(self, target_host: str, target_port: int, port: int | None = None) -> None:
        self.target = (target_host, target_port)
        self.port = port or free_port()
        self.connections = 0
        self.faults: list[Fault] = []
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self._links: set[_Link] = set()
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._armed: Callable[[], Awaitable[None]] | None = None
        self.fired = asyncio.Event()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def cut(self) -> None:
        """Close every open connection (FIN to both sides); the listener stays up."""
        self.faults.append("cut")
        self._drop(rst=False)

    async def reset(self) -> None:
        """Tear every open connection down with a TCP RST; the listener stays up."""
        self.faults.append("reset")
        self._drop(rst=True)

    async def stall(self) -> None:
        """Stop moving bytes either way (new connections too); sockets stay open."""
        self.faults.append("stall")
        self._flowing.clear()

    def resume(self) -> None:
        """Move bytes again after ``stall``: what was held is delivered late."""
        self._flowing.set()

    def arm(self, fault: Fault) -> None:
        """Fire ``fault`` just before the next client-to-broker chunk is forwarded."""
        self.fired.clear()
        self._armed = {"cut": self.cut, "stall": self.stall, "reset": self.reset}[fault]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        self._flowing.set()
        self._drop(rst=False)
        for task in list(self._pipes):
            task.cancel()
        for task in list(self._pipes):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def _drop(self, rst: bool) -> None:
        for link in list(self._links):
            link.abort(rst)
        self._links.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self.connections += 1
        link = _Link(writer, up_writer)
        self._links.add(link)
        for source, sink, upstream in ((reader, up_writer, True), (up_reader, writer, False)):
            task = asyncio.create_task(self._pipe(link, source, sink, upstream))
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)

    async def _pipe(
        self,
        link: _Link,
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
        upstream: bool,
    ) -> None:
        try:
            while data := await source.read(65536):
                if upstream and self._armed is not None:
                    fire, self._armed = self._armed, None
                    await fire()
                    self.fired.set()
                    if link not in self._links:
                        return  # cut or reset: this chunk dies with its connection
                await self._flowing.wait()
                sink.write(data)
                await sink.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            for writer in link.writers:
                writer.transport.abort()
            self._links.discard(link)
