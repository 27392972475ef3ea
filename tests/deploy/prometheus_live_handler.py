"""The handler of the live-Prometheus test's pipeline (copied beside its pipeline file).

What a message's text starts with decides what happens to it, so that every
series the alert rules and the dashboard read moves:

- ``flaky``: fails its first attempt (a retry through the retry topic), then succeeds;
- ``poison``: dead-lettered at once;
- ``slow``: takes a while, so that messages stay in flight;
- anything else: succeeds.

Every message that succeeds goes through the ``db`` batcher.
"""

from __future__ import annotations

import asyncio

from broadway_py import BatchInfo, Handler, Message, PoisonMessageError

SLOW_SECONDS = 0.3


class LiveHandler(Handler):
    async def handle_message(self, message: Message) -> Message:
        text = message.data.decode() if isinstance(message.data, bytes) else str(message.data)
        if text.startswith("poison"):
            raise PoisonMessageError(f"poison: {text}")
        if text.startswith("flaky") and message.attempt == 1:
            raise RuntimeError(f"fails its first attempt: {text}")
        if text.startswith("slow"):
            await asyncio.sleep(SLOW_SECONDS)  # sleep-ok: simulated work, keeps messages in flight
        return message.put_batcher("db")

    def handle_batch(self, batcher: str, messages: list[Message], info: BatchInfo) -> list[Message]:
        return messages
