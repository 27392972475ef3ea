"""An idempotent sink: each message written once, however often it is delivered.

    python examples/idempotent_sink.py

Delivery is at-least-once: a message whose batch was committed to the
database but never acknowledged (the process was killed in between, the
connection was lost, the batch failed after its write) is delivered again.
:class:`IdempotentSink` keys every row on ``message.id``, the message's
identity at its broker, the same on every delivery, and inserts with
``ON CONFLICT DO NOTHING``: a redelivered message finds its row and writes
nothing. It commits, then returns the batch, and only then does the pipeline
acknowledge it.

A message without an id (RabbitMQ, when the publisher set no ``message_id``)
cannot be written exactly once; the sink fails it rather than guess.

Run as a script, it pushes 1,000 messages to the in-memory broker and makes
the first batch fail right after its commit: that batch is retried, its
messages come again with the same ids, and the table still has 1,000 rows.
In a pipeline file, name the class and the database:
``handler: examples.idempotent_sink:IdempotentSink`` with
``IDEMPOTENT_SINK_DB=/var/lib/sink.db`` in the environment.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

from broadway_py import (
    BatcherOptions,
    BatchInfo,
    Handler,
    Message,
    Pipeline,
    ProcessorOptions,
    ProducerOptions,
    RetryPolicy,
)
from broadway_py.connectors.memory import MemoryBroker, MemoryProducer

BATCHER = "sink"
SCHEMA = "CREATE TABLE IF NOT EXISTS processed (message_id TEXT PRIMARY KEY, body BLOB NOT NULL)"
INSERT = (
    "INSERT INTO processed (message_id, body) VALUES (?, ?) ON CONFLICT (message_id) DO NOTHING"
)


class IdempotentSink(Handler):
    """Writes each message's data to SQLite, one row per ``message.id``; acks after the commit.

    ``path``: the database file (default: ``$IDEMPOTENT_SINK_DB``, else
    ``idempotent_sink.db``). SQLite is synchronous, so a batch is written on
    the event loop; an async driver writes the same way with ``await``.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = str(path or os.environ.get("IDEMPOTENT_SINK_DB", "idempotent_sink.db"))
        with contextlib.closing(sqlite3.connect(self.path)) as db, db:
            db.execute(SCHEMA)

    def handle_message(self, message: Message) -> Message:
        if message.id is None:
            return message.failed("no message.id: the sink cannot write it exactly once")
        return message.put_batcher(BATCHER)

    def handle_batch(self, batcher: str, messages: list[Message], info: BatchInfo) -> list[Message]:
        rows = [(m.id, as_bytes(m.data)) for m in messages]
        with contextlib.closing(sqlite3.connect(self.path, timeout=30)) as db:
            with db:  # one transaction: committed at the end of the block, rolled back on error
                inserted = db.executemany(INSERT, rows).rowcount
            self.committed(messages, inserted)
        return messages  # returned after the commit: the pipeline acks them now

    def committed(self, messages: list[Message], inserted: int) -> None:
        """Called after each commit, before the ack; ``inserted``: rows new to the table.

        Does nothing here. A subclass may watch the sink through it (the
        fault suite stops the process at this point, tests/fault).
        """


def as_bytes(data: Any) -> bytes:
    return data if isinstance(data, bytes) else str(data).encode()


def rows(path: str | os.PathLike[str]) -> dict[str, bytes]:
    """What the sink wrote: body by message id."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        return dict(db.execute("SELECT message_id, body FROM processed"))


class FailsOnceAfterCommit(IdempotentSink):
    """The demo's sink: its first batch fails after the commit, as a crash before the ack would."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__(path)
        self.deliveries = 0
        self.inserted = 0
        self.failed_once = False

    def committed(self, messages: list[Message], inserted: int) -> None:
        self.deliveries += len(messages)
        self.inserted += inserted
        if not self.failed_once:
            self.failed_once = True
            raise ConnectionError("lost the database's reply after the commit")


async def main(folder: str | None = None) -> dict[str, int]:
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(folder or scratch) / "sink.db"
        queue = MemoryBroker().queue("orders")
        for n in range(1000):
            queue.push(f"order {n}".encode())
        sink = FailsOnceAfterCommit(path)
        pipeline = Pipeline(
            "idempotent-sink",
            sink,
            ProducerOptions(MemoryProducer.factory(queue)),
            ProcessorOptions(concurrency=2, max_demand=50),
            [BatcherOptions(BATCHER, batch_size=50, batch_timeout=0.2)],
            retry=RetryPolicy(max_attempts=3, min_delay=0.01, max_delay=0.1),
        )
        async with pipeline:
            await queue.wait_idle(timeout=30)
        counts = {
            "rows": len(rows(path)),
            "deliveries": sink.deliveries,
            "inserted": sink.inserted,
            "acked": queue.stats.acked,
        }
    print(
        f"{counts['rows']} rows from {counts['deliveries']} deliveries to the sink "
        f"({counts['deliveries'] - counts['inserted']} redelivered, written once); "
        f"acked {counts['acked']}"
    )
    return counts


if __name__ == "__main__":
    asyncio.run(main())
