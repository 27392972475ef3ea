"""``broadway-py send`` for Kafka: records to the first source topic, acks=all.

The key is the record key (so the topic's partitioner keeps one key on one
partition); headers are record headers, their values UTF-8. A batch is sent
at once and awaited record by record: :meth:`KafkaSender.send` returns once
every record is written, or raises the first refusal, translated.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from aiokafka import AIOKafkaProducer  # type: ignore[import-untyped]

from broadway_py.connectors.kafka.errors import translate
from broadway_py.connectors.kafka.options import Options
from broadway_py.connectors.toolkit.sending import Outbound


class KafkaSender:
    def __init__(self, producer: Any, topic: str, where: str) -> None:
        self.producer = producer
        self.topic = topic
        self.where = where

    async def send(self, batch: Sequence[Outbound]) -> int:
        try:
            futures = [
                await self.producer.send(
                    self.topic,
                    value=item.body,
                    key=None if item.key is None else item.key.encode("utf-8"),
                    headers=[(name, value.encode("utf-8")) for name, value in item.headers.items()],
                )
                for item in batch
            ]
            await asyncio.gather(*futures)
        except Exception as error:
            raise translate(error, f"cannot send to topic {self.topic!r} on {self.where}") from None
        return len(futures)


@asynccontextmanager
async def open_sender(options: Options) -> AsyncIterator[KafkaSender]:
    """A sender to ``options.topics[0]``, connected; closed (flushed) on exit."""
    where = f"Kafka at {options.servers}"
    producer = AIOKafkaProducer(**options.publisher_kwargs())
    try:
        await producer.start()
    except Exception as error:
        await producer.stop()
        raise translate(error, f"cannot connect to {where}") from None
    try:
        yield KafkaSender(producer, options.topics[0], where)
    finally:
        await producer.stop()
