"""Publisher: writes retried messages to the retry topic and dead letters to the DLQ topic.

Every copy is made from the original record as fetched (its key, value and
headers: the pipeline may have decoded ``message.data`` meanwhile), plus the
connector's own headers (see :mod:`.headers`). ``retry`` / ``dead_letter``
send a group of copies at once and wait until the broker acknowledged each
(acks=all), so the caller marks an original done only once its copy is
safely written.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from broadway_py.acknowledger import Decided
from broadway_py.connectors.kafka import headers as h
from broadway_py.connectors.kafka.records import Fetched, fetched
from broadway_py.tracer import copy_context

Copy = tuple[Fetched, list[tuple[str, bytes]]]


class Publisher:
    """Wraps the aiokafka producer the connector writes retries and dead letters with."""

    def __init__(self, producer: Any, retry_topic: str, dead_letter_topic: str) -> None:
        self.producer = producer
        self.retry_topic = retry_topic
        self.dead_letter_topic = dead_letter_topic

    async def retry(self, retries: Sequence[Decided]) -> list[BaseException | None]:
        """Re-publish each message with its next attempt and not-before time."""
        now = time.time()
        copies: list[Copy] = []
        for message, decision in retries:
            record = fetched(message)
            headers = h.retry_headers(
                record.headers or (),
                record.topic,
                record.partition,
                record.offset,
                message.attempt + 1,
                now + decision.delay,
            )
            copies.append((record, h.with_trace(headers, copy_context(message))))
        return await self._send(self.retry_topic, copies)

    async def dead_letter(self, dead: Sequence[Decided]) -> list[BaseException | None]:
        """Publish each message to the dead-letter topic with why it failed."""
        now = time.time()
        copies: list[Copy] = []
        for message, decision in dead:
            record = fetched(message)
            reason = decision.reason or message.status.reason
            headers = h.dead_letter_headers(
                record.headers or (),
                record.topic,
                record.partition,
                record.offset,
                message.attempt,
                reason or "failed",
                now,
            )
            copies.append((record, h.with_trace(headers, copy_context(message))))
        return await self._send(self.dead_letter_topic, copies)

    async def _send(self, topic: str, copies: list[Copy]) -> list[BaseException | None]:
        """Send every copy, then wait for each; returns each one's error (None: written)."""
        outcomes: list[BaseException | None] = [None] * len(copies)
        futures: list[tuple[int, asyncio.Future[Any]]] = []
        for index, (record, headers) in enumerate(copies):
            try:
                future = await self.producer.send(
                    topic, value=record.value, key=record.key, headers=headers
                )
            except Exception as error:
                outcomes[index] = error
            else:
                futures.append((index, future))
        if futures:
            results = await asyncio.gather(*(f for _, f in futures), return_exceptions=True)
            for (index, _), result in zip(futures, results, strict=True):
                if isinstance(result, BaseException):
                    outcomes[index] = result
        return outcomes

    async def stop(self) -> None:
        await self.producer.stop()
