"""The handler of the idempotent-sink fault case: examples/idempotent_sink.py, watched.

Why a subclass: the example is what users copy, so the test runs it as it is
and only listens at its ``committed`` hook (after the commit, before the
ack). Each batch the sink committed is appended to ``$BROADWAY_FAULT_RECORD``
(one ``os.write`` on an ``O_APPEND`` file: whole lines, kept through a
SIGKILL): ``batch <rows inserted> <messages>``, then ``seen <id> <attempt>
<redelivered>`` per message. With ``$IDEMPOTENT_KILL_MARKER`` set, once at
least ``$IDEMPOTENT_KILL_AFTER`` rows were inserted, the hook writes that
marker file and blocks the process for good (no more acks: the batch just
committed is never acknowledged) until the test SIGKILLs it.
"""

from __future__ import annotations

import os
import threading

from broadway_py import Message
from examples.idempotent_sink import IdempotentSink

RECORD = os.environ.get("BROADWAY_FAULT_RECORD", os.devnull)


class WatchedSink(IdempotentSink):
    def __init__(self) -> None:
        super().__init__()
        self.fd = os.open(RECORD, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.marker = os.environ.get("IDEMPOTENT_KILL_MARKER")
        self.kill_after = int(os.environ.get("IDEMPOTENT_KILL_AFTER", "0"))
        self.inserted = 0

    def committed(self, messages: list[Message], inserted: int) -> None:
        lines = [f"batch {inserted} {len(messages)}\n"]
        lines += [
            f"seen {m.id} {m.attempt} {int(bool(m.metadata.get('redelivered')))}\n"
            for m in messages
        ]
        os.write(self.fd, "".join(lines).encode())
        self.inserted += inserted
        if self.marker and self.inserted >= self.kill_after:
            with open(self.marker, "w") as marker:
                marker.write(" ".join(str(m.id) for m in messages))
            threading.Event().wait()  # blocks the loop for good: the test SIGKILLs the process
