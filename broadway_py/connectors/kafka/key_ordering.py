"""Key-ordered parallelism within a partition: ``partition_by: key``.

The default ordering key (:func:`.producer.partition_key`) sends a whole
partition to one processor, so one hot partition keeps one processor busy.
:func:`record_key` routes by the record key instead, *within* its topic and
partition: records of one key (of one partition) go to one processor and one
batch processor, in offset order, while the keys of a partition spread over
every processor.

The route is ``partition_key(message) ^ hash(record key)``: one cached int
per partition (see :func:`.producer.partition_key`) mixed with the key's hash,
so a key is never mixed with the same key of another partition (correct when
the producer of the topic did not partition by key), and nothing is allocated
per message. A record without a key (``None``) is routed by its partition:
those records keep the partition's order among themselves.

Commits stay contiguous: records of a partition now finish out of order
across processors, and :mod:`.offsets` commits only up to the first offset not
done, so the committed offset never passes a record that is not done.

Refused with ``ordered: true``: an ordered-mode retry rewinds the whole
partition to the failed record, so one failing key would replay, and hold
back, every other key of its partition (see :func:`key_ordering`).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

from broadway_py.connectors.kafka.message import KafkaMessage
from broadway_py.connectors.kafka.options import Options
from broadway_py.connectors.kafka.producer import partition_key
from broadway_py.errors import ConfigurationError
from broadway_py.message import Message

ORDERED_CONFLICT = (
    "partition_by: key cannot be combined with the kafka producer's ordered: true: an "
    "ordered retry rewinds the whole partition to the failed record, so one failing key "
    "would replay and hold back every other key of the partition; use the retry topic "
    "(ordered: false) or the default partition_by (the topic and partition)"
)


def record_key(message: Message) -> Hashable:
    """The ordering key of a message by its record key within its topic and partition.

    An int: the partition's route (:func:`.producer.partition_key`) for a
    record without a key, that route xor the key's hash otherwise. A message
    the connector did not fetch (``Pipeline.test_message``) is keyed by its
    metadata (``topic``, ``partition``, ``key``).
    """
    route: int = partition_key(message)  # type: ignore[assignment]
    key = message.key if type(message) is KafkaMessage else message.metadata.get("key")
    return route if key is None else route ^ hash(key)


def key_ordering(options: Options) -> Callable[[Message], Hashable]:
    """``partition_by`` by record key (see the module): each key of a partition keeps its order.

    Raises ConfigurationError with ``ordered: true`` (see :data:`ORDERED_CONFLICT`).
    """
    if options.ordered:
        raise ConfigurationError("partition_by", ORDERED_CONFLICT)
    return record_key
