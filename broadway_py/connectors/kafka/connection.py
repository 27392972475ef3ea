"""One connection attempt: check the topics, start the consumer and the publisher.

:func:`connect` raises, translated (see :mod:`.errors`):

- :class:`~broadway_py.errors.BrokerUnavailable` when no broker answers: the
  caller retries with backoff;
- :class:`~broadway_py.errors.AuthenticationFailed` for refused credentials;
- :class:`~broadway_py.errors.DestinationNotFound` naming a source topic that
  does not exist (source topics are never created: brokers that auto-create
  topics on a metadata request would otherwise hide a typo), or a retry /
  dead-letter topic that is missing while ``create_topics`` is off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # type: ignore[import-untyped]
from aiokafka.admin import AIOKafkaAdminClient  # type: ignore[import-untyped]
from aiokafka.conn import create_conn  # type: ignore[import-untyped]
from aiokafka.errors import for_code  # type: ignore[import-untyped]

from broadway_py.connectors.kafka import lean_fetch
from broadway_py.connectors.kafka.errors import TopicAlreadyExistsError, translate
from broadway_py.connectors.kafka.options import Options
from broadway_py.connectors.kafka.provision import new_topic
from broadway_py.connectors.kafka.publisher import Publisher
from broadway_py.errors import AuthenticationFailed, BrokerUnavailable, DestinationNotFound

log = logging.getLogger("broadway_py.connectors.kafka")


@dataclass
class Connection:
    """A started consumer (subscribed, not yet polled) and the publisher."""

    consumer: Any
    publisher: Publisher

    async def close(self, timeout: float) -> None:
        await _quietly(self.consumer.stop(), timeout)
        await _quietly(self.publisher.stop(), timeout)


async def connect(options: Options, listener: Any) -> Connection:
    """Connect once; raises a broadway_py ConnectorError saying what is wrong."""
    where = f"Kafka at {options.servers}"
    partitions = await _describe_topics(options, where)
    consumer = AIOKafkaConsumer(**options.consumer_kwargs())
    producer = AIOKafkaProducer(**options.publisher_kwargs())
    try:
        await consumer.start()
        lean_fetch.install(consumer)
        await producer.start()
        consumer.subscribe(options.subscribed_topics, listener=listener)
    except BaseException as error:
        await _quietly(consumer.stop(), 5)
        await _quietly(producer.stop(), 5)
        if not isinstance(error, Exception):
            raise
        raise await _explain(options, error, f"cannot connect to {where}") from None
    publisher = Publisher(producer, options.retry_topic_name, options.dead_letter_topic_name)
    log.info(
        "kafka: connected to %s as group %r; topics %s (partitions: %s)",
        options.servers,
        options.group_id,
        ", ".join(options.subscribed_topics),
        ", ".join(f"{t}={partitions.get(t, '?')}" for t in options.subscribed_topics),
    )
    return Connection(consumer, publisher)


async def _describe_topics(options: Options, where: str) -> dict[str, int]:
    """Partition counts of every topic; checks sources exist and makes the side topics."""
    admin = AIOKafkaAdminClient(**options.admin_kwargs())
    try:
        try:
            await admin.start()
        except Exception as error:
            raise await _explain(options, error, f"cannot connect to {where}") from None
        try:
            described = await admin.describe_topics()
        except Exception as error:
            raise translate(error, f"cannot list the topics of {where}") from None
        partitions = {t["topic"]: len(t["partitions"]) for t in described if not t["error_code"]}
        missing = [t for t in options.topics if t not in partitions]
        if missing:
            names = ", ".join(repr(t) for t in missing)
            raise DestinationNotFound(
                f"Kafka topic {names} does not exist on {options.servers} (or this client may "
                "not see it) (producer.kafka.topics)"
            )
        side = [options.dead_letter_topic_name]
        if not options.ordered:
            side.insert(0, options.retry_topic_name)
        absent = [t for t in side if t not in partitions]
        if absent:
            count = max(partitions[t] for t in options.topics)
            await _create(admin, options, absent, count, where)
            partitions.update(dict.fromkeys(absent, count))
        return partitions
    finally:
        await _quietly(admin.close(), 5)


async def _create(admin: Any, options: Options, topics: list[str], count: int, where: str) -> None:
    if not options.create_topics:
        raise DestinationNotFound(
            f"Kafka topic {', '.join(repr(t) for t in topics)} does not exist on "
            f"{options.servers}; create it or set producer.kafka.create_topics: true"
        )
    requested = [
        new_topic(name, count, options.replication_factor, options.topic_configs) for name in topics
    ]
    try:
        response = await admin.create_topics(requested)
    except Exception as error:
        raise translate(error, f"cannot create topics {topics} on {where}") from None
    for name, code, *rest in response.topic_errors:
        if code == 0:
            log.info("kafka: created topic %r with %d partitions", name, count)
            continue
        refused = for_code(code)(rest[0] if rest else "")
        if isinstance(refused, TopicAlreadyExistsError):
            continue
        raise translate(
            refused, f"cannot create topic {name!r} on {where} (or set create_topics: false)"
        )


async def _explain(options: Options, error: BaseException, context: str) -> Exception:
    """Translate a failed start; when TLS or SASL is on, ask one broker why it failed.

    aiokafka reports any bootstrap failure as "Unable to bootstrap", hiding a
    refused login; a direct connection to the first broker shows the cause.
    """
    sasl = options.sasl is not None
    translated = translate(error, context, during_sasl=sasl)
    if not isinstance(translated, BrokerUnavailable) or options.protocol == "PLAINTEXT":
        return translated
    host, _, port = options.bootstrap_servers[0].rpartition(":")
    try:
        conn = await create_conn(
            host.strip("[]"),
            int(port),
            client_id=options.client_id,
            request_timeout_ms=options.request_timeout_ms,
            **options.security_kwargs(),
        )
    except Exception as cause:
        diagnosed = translate(cause, context, during_sasl=sasl)
        if isinstance(diagnosed, AuthenticationFailed):
            return diagnosed
    else:
        conn.close()
    return translated


async def _quietly(closing: Awaitable[Any], timeout: float) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(closing, timeout)
