"""The Kafka connector: consume topics as a consumer-group member, on aiokafka.

::

    from broadway_py.connectors.kafka import Options, producer_factory, ordering_key

    options = Options(bootstrap_servers="kafka:9092", topics=["orders"], group_id="orders")
    pipeline = Pipeline(
        "orders",
        handler,
        ProducerOptions(producer_factory(options, demand=400)),
        ProcessorOptions(concurrency=4, partition_by=ordering_key(options)),
    )

``partition_by=key_ordering(options)`` in place of ``ordering_key(options)``
routes by the record key within each partition (``partition_by: key`` in a
pipeline file): a hot partition keeps every processor busy, each key in order.

See docs/kafka.md for the semantics: commits, ordering, retries and dead
letters, rebalances, back-pressure.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

from broadway_py.connectors.kafka.key_ordering import key_ordering, record_key
from broadway_py.connectors.kafka.options import (
    Options,
    ReconnectOptions,
    SaslOptions,
    SslOptions,
)
from broadway_py.connectors.kafka.producer import KafkaProducer, partition_key
from broadway_py.message import Message
from broadway_py.producer import Producer

DEAD_LETTER_OPTION = "dead_letter_topic"
"""The Options field a pipeline file's ``dead_letter.destination`` fills in."""


def producer_factory(options: Options, *, demand: int) -> Callable[[], Producer]:
    """One KafkaProducer (one group member) per producer stage.

    ``demand`` (processors.concurrency * processors.max_demand) sizes the
    buffer each member fills ahead of the pipeline before pausing its
    partitions.
    """
    return lambda: KafkaProducer(options, buffer_size=demand)


def ordering_key(options: Options) -> Callable[[Message], Hashable] | None:
    """The topic and partition: messages of one partition keep their order end to end."""
    return partition_key


__all__ = [
    "DEAD_LETTER_OPTION",
    "KafkaProducer",
    "Options",
    "ReconnectOptions",
    "SaslOptions",
    "SslOptions",
    "key_ordering",
    "ordering_key",
    "partition_key",
    "producer_factory",
    "record_key",
]
