"""The RabbitMQ connector: consume one queue with aio-pika, ack per the outcome.

Exposes, per the connector convention: ``Options`` (the settings model),
``producer_factory(options, *, demand)`` and ``ordering_key(options)`` (None:
RabbitMQ gives no per-key order to keep), and ``DEAD_LETTER_OPTION`` (the
option a pipeline file's ``dead_letter.destination`` fills in).
See docs/rabbitmq.md.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

from broadway_py.connectors.rabbitmq.acknowledger import AckStats, RabbitMQAcknowledger
from broadway_py.connectors.rabbitmq.options import (
    BindingOptions,
    DeadLetterOptions,
    DeclareOptions,
    Options,
    ReconnectOptions,
    RetryOptions,
)
from broadway_py.connectors.rabbitmq.producer import RabbitMQProducer
from broadway_py.message import Message
from broadway_py.producer import Producer

DEAD_LETTER_OPTION = "dead_letter"


def producer_factory(options: Options, *, demand: int) -> Callable[[], Producer]:
    """One RabbitMQProducer (one connection) per producer stage.

    ``demand`` (processors.concurrency * processors.max_demand) sizes the
    default prefetch count: twice the demand.
    """
    prefetch = options.effective_prefetch(demand)
    return lambda: RabbitMQProducer(options, prefetch)


def ordering_key(options: Options) -> Callable[[Message], Hashable] | None:
    """None: a RabbitMQ queue has no per-key order that processors must keep."""
    return None


__all__ = [
    "DEAD_LETTER_OPTION",
    "AckStats",
    "BindingOptions",
    "DeadLetterOptions",
    "DeclareOptions",
    "Options",
    "RabbitMQAcknowledger",
    "RabbitMQProducer",
    "ReconnectOptions",
    "RetryOptions",
    "ordering_key",
    "producer_factory",
]
