"""The dead-letter topic, for ``broadway-py dlq``: read, replay and purge it.

A Kafka topic cannot lose one record, so "in the dead-letter topic" means
*past the committed offset of the replay group*: the consumer group
``<dead_letter_topic>-replay`` (``orders.dlq-replay`` for the default
``orders.dlq``), which nothing but this command uses. Every record before that
group's committed offset of its partition has been replayed or purged.

- **peek** assigns every partition of the dead-letter topic, starts at the
  replay group's committed offsets (the beginning where it has none) and reads
  up to the high watermark. It never commits: nothing changes.
- **replay** reads the same way and produces each chosen record to its
  source topic (``broadway-original-topic``; the original partition when the
  record carries it) with the original key, value and headers, but without
  ``broadway-attempt``, ``broadway-reason`` and ``broadway-failed-at`` (so its
  next delivery is attempt 1; its origin headers stay, so it keeps its message
  id), with acks=all. Only once every copy of a fetched batch is acknowledged
  does it commit the replay group past them. A replay killed before that
  commit sends those records again next time (duplicates, never a loss).
  Removal is in order, per partition: a record left in place (not chosen)
  holds the committed offset of its partition, so chosen records behind it
  are replayed but stay in the topic, and a later replay that chooses them
  sends them again. A warning says how many.
- **purge** commits the replay group at the end of every partition. The
  records stay in the topic until its retention deletes them; Kafka's
  DeleteRecords would remove them, but Tansu (the broker of the tests) drops
  the connection on it, so the connector does not use it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # type: ignore[import-untyped]
from aiokafka.structs import OffsetAndMetadata, TopicPartition  # type: ignore[import-untyped]

from broadway_py.connectors.kafka import headers as h
from broadway_py.connectors.kafka.errors import translate
from broadway_py.connectors.kafka.options import Options
from broadway_py.connectors.toolkit.dead_letters import DeadLetter, Select
from broadway_py.errors import DestinationNotFound

log = logging.getLogger("broadway_py.connectors.kafka")

REPLAY_GROUP_SUFFIX = "-replay"
_IDLE_POLLS = 6  # polls of 0.5 s without a record before a partition's end is taken as read
_BATCH = 100  # records fetched (and replayed, then committed) at a time
_REPLACED = frozenset({h.ATTEMPT, h.NOT_BEFORE, h.REASON, h.FAILED_AT})


def replay_group(options: Options) -> str:
    """The consumer group whose committed offsets say what was replayed or purged."""
    return options.dead_letter_topic_name + REPLAY_GROUP_SUFFIX


def read(record: Any) -> DeadLetter:
    """A dead letter from a record of the dead-letter topic."""
    headers: list[tuple[str, bytes]] = list(record.headers or ())
    attempt = h.find(headers, h.ATTEMPT)
    reason = h.find(headers, h.REASON)
    failed_at = h.find(headers, h.FAILED_AT)
    origin = h.read_origin(headers)
    topic = origin.get("original_topic")
    return DeadLetter(
        id=h.message_id(headers, record.topic, record.partition, record.offset),
        attempts=h.read_attempt(headers) if attempt is not None else None,
        reason=None if reason is None else reason.decode("utf-8", "replace"),
        source=topic if isinstance(topic, str) else None,
        dead_lettered_at=int(failed_at) / 1000 if failed_at and failed_at.isdigit() else None,
        payload=record.value or b"",
        position=f"{record.topic}/{record.partition}/{record.offset}",
    )


def replay_headers(headers: h.Headers) -> list[tuple[str, bytes]]:
    """The headers of a replayed copy: the record's own and its origin, no attempt."""
    return [(k, v) for k, v in headers if k not in _REPLACED]


class KafkaDeadLetters:
    """The dead-letter topic of a Kafka pipeline, and its replay group."""

    def __init__(self, options: Options) -> None:
        self._options = options
        self._topic = options.dead_letter_topic_name
        self._group = replay_group(options)

    @property
    def destination(self) -> str:
        return (
            f"Kafka topic {self._topic!r} at {self._options.servers} "
            f"(past the committed offsets of group {self._group!r})"
        )

    async def _consumer(self) -> tuple[Any, list[Any]]:
        options = self._options
        where = f"Kafka at {options.servers}"
        consumer = AIOKafkaConsumer(
            bootstrap_servers=list(options.bootstrap_servers),
            client_id=options.client_id,
            group_id=self._group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=_BATCH,
            fetch_max_wait_ms=100,
            request_timeout_ms=options.request_timeout_ms,
            **options.security_kwargs(),
        )
        try:
            await consumer.start()
            await consumer.topics()  # fills the metadata
            partitions = consumer.partitions_for_topic(self._topic)
            if not partitions:
                raise DestinationNotFound(
                    f"the dead-letter topic {self._topic!r} does not exist at {options.servers}"
                )
            assigned = [TopicPartition(self._topic, p) for p in sorted(partitions)]
            consumer.assign(assigned)
            for tp in assigned:
                committed = await consumer.committed(tp)
                if committed is None:
                    await consumer.seek_to_beginning(tp)
                else:
                    consumer.seek(tp, committed)
        except BaseException as error:
            await consumer.stop()
            if isinstance(error, DestinationNotFound) or not isinstance(error, Exception):
                raise
            raise translate(error, f"cannot read the dead-letter topic at {where}") from error
        return consumer, assigned

    async def _batches(
        self, consumer: Any, assigned: list[Any]
    ) -> AsyncIterator[dict[Any, list[Any]]]:
        """Fetched records, until every partition is read up to its high watermark."""
        idle = 0
        while idle < _IDLE_POLLS:
            ends = [consumer.highwater(tp) for tp in assigned]
            if all(end is not None for end in ends):
                positions = [await consumer.position(tp) for tp in assigned]
                if all(p >= end for p, end in zip(positions, ends, strict=True)):
                    return
            batch = await consumer.getmany(*assigned, timeout_ms=500)
            if not any(batch.values()):
                idle += 1
                continue
            idle = 0
            yield batch

    async def peek(self, limit: int) -> list[DeadLetter]:
        consumer, assigned = await self._consumer()
        found: list[DeadLetter] = []
        try:
            async for batch in self._batches(consumer, assigned):
                for records in batch.values():
                    found.extend(read(record) for record in records)
                if len(found) >= limit:
                    break
        finally:
            await consumer.stop()
        found.sort(key=lambda d: (d.dead_lettered_at or 0.0, d.position))
        return found[:limit]

    async def replay(
        self,
        select: Select,
        *,
        limit: int | None = None,
        on_replayed: Callable[[DeadLetter], None] | None = None,
    ) -> int:
        consumer, assigned = await self._consumer()
        producer = AIOKafkaProducer(**self._options.publisher_kwargs())
        replayed = 0
        stranded = 0  # replayed, but behind a record left in place: not committed past
        held: set[Any] = set()  # partitions whose commit a record left in place holds
        try:
            try:
                await producer.start()
            except Exception as error:
                raise translate(
                    error, f"cannot connect to Kafka at {self._options.servers}"
                ) from error
            async for batch in self._batches(consumer, assigned):
                sent: list[tuple[DeadLetter, asyncio.Future[Any]]] = []
                commits: dict[Any, Any] = {}
                done = False
                for tp, records in batch.items():
                    for record in records:
                        if limit is not None and replayed + len(sent) >= limit:
                            done = True
                            break
                        letter = read(record)
                        if letter.source is None or not select(letter):
                            held.add(tp)
                            continue
                        origin = h.read_origin(list(record.headers or ()))
                        partition = origin.get("original_partition")
                        try:
                            future = await producer.send(
                                letter.source,
                                value=record.value,
                                key=record.key,
                                headers=replay_headers(list(record.headers or ())),
                                partition=partition if isinstance(partition, int) else None,
                            )
                        except Exception as error:
                            raise translate(error, f"cannot replay to {letter.source!r}") from error
                        sent.append((letter, future))
                        if tp in held:
                            stranded += 1
                        else:
                            commits[tp] = OffsetAndMetadata(record.offset + 1, "")
                    if done:
                        break
                for letter, future in sent:
                    try:
                        await future  # acks=all: the copy is written
                    except Exception as error:
                        raise translate(error, f"cannot replay to {letter.source!r}") from error
                if commits:  # only past records whose copies the broker acknowledged
                    try:
                        await consumer.commit(commits)
                    except Exception as error:
                        raise translate(error, f"cannot commit group {self._group!r}") from error
                for letter, _ in sent:
                    replayed += 1
                    if on_replayed is not None:
                        on_replayed(letter)
                if done:
                    break
        finally:
            await producer.stop()
            await consumer.stop()
        if stranded:
            log.warning(
                "%d replayed records of %s sit behind records left in place and stay in the "
                "dead-letter topic (Kafka removes them only in order): a later replay that "
                "chooses them sends them again",
                stranded,
                self._topic,
            )
        return replayed

    async def purge(self) -> int:
        consumer, assigned = await self._consumer()
        try:
            starts = {tp: await consumer.position(tp) for tp in assigned}
            async for _ in self._batches(consumer, assigned):
                pass
            ends = {tp: await consumer.position(tp) for tp in assigned}
            commits = {
                tp: OffsetAndMetadata(ends[tp], "") for tp in assigned if ends[tp] > starts[tp]
            }
            if commits:
                await consumer.commit(commits)
        except Exception as error:
            raise translate(error, f"cannot purge {self._topic!r}") from error
        finally:
            await consumer.stop()
        return sum(ends[tp] - starts[tp] for tp in assigned)

    async def close(self) -> None:
        return None


def open_dead_letters(options: Options) -> KafkaDeadLetters:
    return KafkaDeadLetters(options)
