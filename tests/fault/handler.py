"""The handler the fault suite's pipelines run (named in their YAML).

Why this shape: every fifth id fails its first attempt once (a retry must
bring it back), every seventeenth id fails every attempt (it must end as a
dead letter, exactly once as far as the broker is concerned), the rest
succeed. Successful messages go through a batcher, so a SIGKILL lands in the
middle of a batch. Each outcome is appended to ``$BROADWAY_FAULT_RECORD``
with one ``os.write`` on an ``O_APPEND`` file (whole lines, and they survive a
SIGKILL), for the test to count what was handled, and how often.
"""

from __future__ import annotations

import asyncio
import os

from broadway_py import BatchInfo, Handler, Message
from tests.fault.workload import always_fails, fails_once

RECORD = os.environ.get("BROADWAY_FAULT_RECORD", os.devnull)
WORK = float(os.environ.get("BROADWAY_FAULT_WORK", "0.002"))
BATCHER = "default"


class FaultHandler(Handler):
    def __init__(self) -> None:
        self.fd = os.open(RECORD, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def _record(self, lines: list[str]) -> None:
        os.write(self.fd, "".join(lines).encode())

    async def handle_message(self, message: Message) -> Message:
        ident = int(message.data)
        await asyncio.sleep(WORK)  # sleep-ok: simulated work, keeps messages in flight
        if always_fails(ident) or (fails_once(ident) and message.attempt == 1):
            self._record([f"fail {ident} {message.attempt}\n"])
            raise RuntimeError(f"injected failure of id {ident} (attempt {message.attempt})")
        return message.put_batcher(BATCHER)

    async def handle_batch(
        self, batcher: str, messages: list[Message], info: BatchInfo
    ) -> list[Message]:
        await asyncio.sleep(WORK)  # sleep-ok: simulated work of a batch write
        self._record([f"ok {int(m.data)} {m.attempt}\n" for m in messages])
        return messages
