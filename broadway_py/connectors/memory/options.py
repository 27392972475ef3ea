"""Options of the ``memory`` and ``generator`` producer types, and their factories.

``memory`` reads a named queue of the process's embedded broker
(:data:`~broadway_py.connectors.memory.broker.DEFAULT_BROKER`); something in the
same process pushes to it. Dead letters stay in the queue's ``dead_letters``
list, so a pipeline file's ``dead_letter.destination`` does not apply.

``generator`` makes synthetic messages: ``count`` of them (per producer stage)
or endless, at most ``rate`` per second. A finite generator's pipeline stops by
itself once every message was settled. A retried message comes back after
its delay with ``attempt + 1`` (the same ``seq``), as from a broker.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

from pydantic import BaseModel, ConfigDict, Field

from broadway_py.connectors.memory.generator import GeneratorProducer, Payload
from broadway_py.connectors.memory.producer import MemoryProducer
from broadway_py.message import Message
from broadway_py.producer import Producer

SEQ = "{seq}"


class MemoryOptions(BaseModel):
    """``producer.memory``: read one queue of the in-process broker."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    queue: str = Field(
        min_length=1,
        description="Name of the in-memory queue to consume (made on first use).",
    )


class GeneratorOptions(BaseModel):
    """``producer.generator``: synthetic messages for demos and benchmarks."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    count: int | None = Field(
        default=None,
        ge=0,
        le=10**15,
        description="How many messages each producer stage makes; null (the default) "
        "means endless. The pipeline finishes by itself once they were all acknowledged.",
    )
    rate: float | None = Field(
        default=None,
        gt=0,
        le=10**9,
        description="At most this many messages per second per producer stage; null: "
        "as fast as the pipeline takes them.",
    )
    payload: str = Field(
        default="hello {seq}",
        description="The data of every message, as UTF-8 bytes; '{seq}' is replaced by "
        "the message's sequence number (0, 1, 2...), also in metadata['seq'].",
    )


def producer_factory(options: MemoryOptions, *, demand: int) -> Callable[[], Producer]:
    """One MemoryProducer (one lease on the queue) per producer stage."""
    return MemoryProducer.factory(options.queue)


def ordering_key(options: MemoryOptions) -> Callable[[Message], Hashable] | None:
    """A memory queue promises no order across redeliveries: no ordering key."""
    return None


def generator_producer_factory(options: GeneratorOptions, *, demand: int) -> Callable[[], Producer]:
    """One GeneratorProducer per producer stage, each making ``count`` messages."""
    payload = _payload(options.payload)
    return lambda: GeneratorProducer(options.count, options.rate, payload)


def generator_ordering_key(options: GeneratorOptions) -> Callable[[Message], Hashable] | None:
    """Generated messages have no order to keep."""
    return None


def _payload(template: str) -> Payload:
    if SEQ not in template:
        return template.encode()
    head, _, tail = template.partition(SEQ)
    if SEQ not in tail:
        prefix, suffix = head.encode(), tail.encode()
        return lambda n: b"%s%d%s" % (prefix, n, suffix)
    return lambda n: template.replace(SEQ, str(n)).encode()
