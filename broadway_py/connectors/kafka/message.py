"""KafkaMessage: a Message read from a Kafka record, and the Delivery it came in.

A fetched record becomes one :class:`KafkaMessage`, a single object: its
``metadata`` dict is built from the record's fields the first time something
reads it, and ``ack_ref`` / ``ack_data`` hold how to acknowledge it without
building anything per message:

- ``ack_ref`` is the :class:`Delivery`, one per fetched run of a partition
  (the partition's offsets, the epoch it was delivered in and its
  ``(topic, partition)``), shared by every message of that run; the pipeline
  acknowledges a run's messages in one call (as Broadway's Kafka producer
  keys acks by topic and partition);
- ``ack_data`` is the record's offset.

Allocation is what this saves: a message used to bring a metadata dict and an
ack tuple with it, and every object that lives while messages are in flight
feeds the garbage collector, which then walks all of them (about a quarter
of the connector's CPU time at 100-byte messages, measured in bench/).

``key``, ``timestamp``, ``headers`` and ``value`` are the record's, as
fetched: retries and dead letters are copied from them, whatever the pipeline
did to ``data`` meanwhile.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING, Any, cast

from broadway_py.connectors.kafka.headers import message_id
from broadway_py.message import OK, Message

if TYPE_CHECKING:
    from broadway_py.acknowledger import Acknowledger
    from broadway_py.connectors.kafka.headers import Headers
    from broadway_py.connectors.kafka.offsets import PartitionOffsets


class Delivery:
    """One fetched run of a partition: the ``ack_ref`` of each of its messages.

    Compared and hashed by identity: two runs of one partition are two ack groups.
    """

    __slots__ = ("epoch", "key", "offsets")

    def __init__(self, offsets: PartitionOffsets, epoch: int, key: tuple[str, int]) -> None:
        self.offsets = offsets
        self.epoch = epoch
        #: ``(topic, partition)``: the ordering key of the run's messages.
        self.key = key

    def __repr__(self) -> str:
        topic, partition = self.key
        return f"Delivery({topic}[{partition}], epoch {self.epoch})"


class KafkaMessage(Message):
    """A message read from Kafka; ``metadata`` is built when first read.

    ``metadata`` holds ``topic``, ``partition``, ``offset``, ``key``,
    ``timestamp`` (milliseconds) and ``headers`` (a sequence of (name, bytes)
    pairs), as for any connector's message; assigning it replaces it.

    ``id`` is made when first read, too: ``"<topic>/<partition>/<offset>"`` of
    the record the message first came from (see :func:`.headers.message_id`).
    """

    __slots__ = ("_id", "_metadata", "headers", "key", "timestamp", "value")

    def __init__(
        self,
        value: bytes | None,
        acknowledger: Acknowledger,
        delivery: Delivery,
        offset: int,
        key: bytes | None,
        timestamp: int,
        headers: Headers,
        attempt: int,
    ) -> None:
        # Every slot but the base class's ``metadata`` (shadowed by the property below).
        self.data: Any = value
        self.acknowledger = acknowledger
        self.ack_ref: Hashable = delivery
        self.ack_data: Any = offset
        self.attempt = attempt
        self.status = OK
        self.batcher = None
        self.batch_key = None
        self.batch_mode = "bulk"
        self.decision = None
        self.received_at = 0.0
        self.received_by = 0
        self.trace = None
        self.value = value
        self.key = key
        self.timestamp = timestamp
        self.headers = headers
        self._metadata: dict[str, Any] | None = None
        self._id: str | None = None

    @property
    def topic(self) -> str:
        return delivery_of(self).key[0]

    @property
    def partition(self) -> int:
        return delivery_of(self).key[1]

    @property
    def offset(self) -> int:
        return offset_of(self)

    @property
    def metadata(self) -> dict[str, Any]:
        metadata = self._metadata
        if metadata is None:
            topic, partition = delivery_of(self).key
            metadata = self._metadata = {
                "topic": topic,
                "partition": partition,
                "offset": self.ack_data,
                "key": self.key,
                "timestamp": self.timestamp,
                "headers": self.headers,
            }
        return metadata

    @metadata.setter
    def metadata(self, metadata: dict[str, Any]) -> None:
        self._metadata = metadata

    @property
    def id(self) -> str | None:
        ident = self._id
        if ident is None:
            topic, partition = delivery_of(self).key
            ident = self._id = message_id(self.headers, topic, partition, self.ack_data)
        return ident

    @id.setter
    def id(self, ident: str | None) -> None:
        self._id = ident


def delivery_of(message: Message) -> Delivery:
    """The run a message was delivered in (its partition's offsets and epoch)."""
    return cast(Delivery, message.ack_ref)


def offset_of(message: Message) -> int:
    """A message's offset, as fetched (whatever its metadata says now)."""
    offset: int = message.ack_data
    return offset
