"""The connector registry: a producer type name -> its Options model and factories.

Connector packages are imported only when a pipeline uses them, so a service
that reads from SQS never needs aiokafka. When a connector's client library is
not installed, :func:`load` raises :class:`ConnectorUnavailable` naming the pip
extra to install (``pip install 'broadway-py[kafka]'``).

Each connector package exposes, from its ``__init__``:

- ``Options``: a pydantic model (``extra="forbid"``) of its settings;
- ``producer_factory(options, *, demand) -> Callable[[], Producer]``;
- ``ordering_key(options) -> Callable[[Message], Hashable] | None``: the key
  whose order must be kept (Kafka: topic and partition; SQS FIFO: the message
  group), used as the default ``partition_by`` of processors and batchers;
- optionally ``DEAD_LETTER_OPTION``: the name of the Options field that the
  pipeline file's connector-agnostic ``dead_letter.destination`` fills in.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from types import ModuleType
from typing import Any, cast

from pydantic import BaseModel

from broadway_py.errors import BroadwayError
from broadway_py.message import Message
from broadway_py.producer import Producer

ProducerFactoryMaker = Callable[..., Callable[[], Producer]]
OrderingKeyMaker = Callable[[Any], Callable[[Message], Hashable] | None]

# Options field names a connector may use for its dead-letter destination, tried
# in this order when the package does not say DEAD_LETTER_OPTION itself.
_DEAD_LETTER_FIELDS = (
    "dead_letter_destination",
    "dead_letter_topic",
    "dead_letter_queue",
    "dead_letter_queue_url",
    "dead_letter_exchange",
    "dead_letter",
)


@dataclass(frozen=True)
class ConnectorSpec:
    """Where a connector lives and what it needs installed."""

    name: str
    module: str
    client: str | None = None
    extra: str | None = None
    options_attr: str = "Options"
    factory_attr: str = "producer_factory"
    ordering_attr: str = "ordering_key"
    dead_letter_attr: str = "DEAD_LETTER_OPTION"
    description: str = ""


CONNECTORS: dict[str, ConnectorSpec] = {
    spec.name: spec
    for spec in (
        ConnectorSpec(
            "memory",
            "broadway_py.connectors.memory",
            description="a named queue of the process's embedded in-memory broker",
        ),
        ConnectorSpec(
            "generator",
            "broadway_py.connectors.memory",
            options_attr="GeneratorOptions",
            factory_attr="generator_producer_factory",
            ordering_attr="generator_ordering_key",
            dead_letter_attr="GENERATOR_DEAD_LETTER_OPTION",
            description="synthetic messages, a fixed number or endless, optionally paced",
        ),
        ConnectorSpec(
            "kafka", "broadway_py.connectors.kafka", "aiokafka", "kafka", description="Kafka"
        ),
        ConnectorSpec(
            "rabbitmq",
            "broadway_py.connectors.rabbitmq",
            "aio_pika",
            "rabbitmq",
            description="RabbitMQ (AMQP 0-9-1)",
        ),
        ConnectorSpec(
            "sqs", "broadway_py.connectors.sqs", "aiobotocore", "sqs", description="Amazon SQS"
        ),
    )
}


class UnknownConnector(BroadwayError, LookupError):
    """No connector has that name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"unknown producer type {name!r}; expected one of: {', '.join(names())}")
        self.name = name


class ConnectorUnavailable(BroadwayError, ImportError):
    """The connector (or its client library) cannot be imported."""

    def __init__(self, name: str, message: str, install: str | None = None) -> None:
        super().__init__(message)
        self.connector = name
        self.install = install


@dataclass(frozen=True)
class Connector:
    """A loaded connector: its options model and the functions the builder calls."""

    name: str
    options: type[BaseModel]
    producer_factory: ProducerFactoryMaker
    ordering_key: OrderingKeyMaker
    dead_letter_option: str | None

    def install_hint(self) -> str | None:
        extra = CONNECTORS[self.name].extra
        return f"pip install 'broadway-py[{extra}]'" if extra else None


def names() -> list[str]:
    """Every producer type a pipeline file may name."""
    return list(CONNECTORS)


def load(name: str) -> Connector:
    """Import the connector called ``name``.

    Raises UnknownConnector for a name that is not registered and
    ConnectorUnavailable when it (or its client library) cannot be imported.
    """
    spec = CONNECTORS.get(name)
    if spec is None:
        raise UnknownConnector(name)
    module = _import(spec)
    try:
        options = getattr(module, spec.options_attr)
        factory = getattr(module, spec.factory_attr)
        ordering = getattr(module, spec.ordering_attr)
    except AttributeError as error:
        raise ConnectorUnavailable(
            name, f"the {name} connector ({spec.module}) is incomplete: {error}"
        ) from None
    if not (isinstance(options, type) and issubclass(options, BaseModel)):
        raise ConnectorUnavailable(
            name, f"{spec.module}.{spec.options_attr} is not a pydantic model"
        )
    declared = getattr(module, spec.dead_letter_attr, None)
    dead_letter = declared if isinstance(declared, str) else None
    if dead_letter is None and spec.options_attr == "Options":
        dead_letter = next((f for f in _DEAD_LETTER_FIELDS if f in options.model_fields), None)
    return Connector(
        name,
        options,
        cast(ProducerFactoryMaker, factory),
        cast(OrderingKeyMaker, ordering),
        dead_letter,
    )


def _import(spec: ConnectorSpec) -> ModuleType:
    try:
        return importlib.import_module(spec.module)
    except ImportError as error:
        missing = (getattr(error, "name", None) or "").split(".")[0]
        if spec.client is not None and missing and not missing.startswith("broadway_py"):
            install = f"pip install 'broadway-py[{spec.extra}]'"
            raise ConnectorUnavailable(
                spec.name,
                f"the {spec.name} connector needs the {missing!r} package, which is not "
                f"installed: {install}",
                install,
            ) from None
        if error.name == spec.module:
            raise ConnectorUnavailable(
                spec.name, f"the {spec.name} connector is not part of this installation"
            ) from None
        raise ConnectorUnavailable(
            spec.name, f"the {spec.name} connector cannot be imported: {error}"
        ) from None
