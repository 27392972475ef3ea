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
  pipeline file's connector-agnostic ``dead_letter.destination`` fills in;
- optionally (named by ``ConnectorSpec.key_ordering_attr``) a
  ``key_ordering(options) -> Callable[[Message], Hashable]``: the
  ``partition_by: key`` of a pipeline file, routing by each record's key within
  its partition (Kafka); it raises ConfigurationError for options it cannot
  serve. A connector without one refuses ``partition_by: key``.

A connector with a broker to set up and publish to has two more modules, imported
only by the commands that use them (:func:`provisioner`, :func:`sender`):
``<package>.provision`` with ``provision(options, needs)``
(:mod:`~broadway_py.connectors.toolkit.provisioning`) and ``<package>.send``
with ``open_sender(options)`` (:mod:`~broadway_py.connectors.toolkit.sending`).
One whose dead letters live in the broker has ``<package>.dead_letters`` with
``open_dead_letters(options)`` (:func:`open_dead_letters`,
:mod:`~broadway_py.connectors.toolkit.dead_letters`), for ``broadway-py dlq``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from types import ModuleType
from typing import Any, cast

from pydantic import BaseModel

from broadway_py.connectors.toolkit.dead_letters import DeadLetterStore, NoDeadLetterDestination
from broadway_py.connectors.toolkit.provisioning import Provision
from broadway_py.connectors.toolkit.sending import OpenSender
from broadway_py.errors import BroadwayError
from broadway_py.message import Message
from broadway_py.producer import Producer

ProducerFactoryMaker = Callable[..., Callable[[], Producer]]
OrderingKeyMaker = Callable[[Any], Callable[[Message], Hashable] | None]
KeyOrderingMaker = Callable[[Any], Callable[[Message], Hashable]]

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
    operations: bool = False
    """Whether it has ``provision`` and ``send`` modules (a broker to set up and publish to)."""
    dead_letters_module: str | None = None
    """The module whose ``open_dead_letters(options)`` opens its dead-letter store
    (``broadway-py dlq``); None: the connector has no destination outside the process."""
    key_ordering_attr: str | None = None
    """The package's ``key_ordering(options)`` (``partition_by: key``); None: not supported."""


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
            "kafka",
            "broadway_py.connectors.kafka",
            "aiokafka",
            "kafka",
            description="Kafka",
            dead_letters_module="broadway_py.connectors.kafka.dead_letters",
            operations=True,
            key_ordering_attr="key_ordering",
        ),
        ConnectorSpec(
            "rabbitmq",
            "broadway_py.connectors.rabbitmq",
            "aio_pika",
            "rabbitmq",
            description="RabbitMQ (AMQP 0-9-1)",
            dead_letters_module="broadway_py.connectors.rabbitmq.dead_letters",
            operations=True,
        ),
        ConnectorSpec(
            "sqs",
            "broadway_py.connectors.sqs",
            "aiobotocore",
            "sqs",
            description="Amazon SQS",
            dead_letters_module="broadway_py.connectors.sqs.dead_letters",
            operations=True,
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
    key_ordering: KeyOrderingMaker | None = None
    """``partition_by: key`` (see the module); None: this connector does not support it."""

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
        _key_ordering(spec, module),
    )


def _key_ordering(spec: ConnectorSpec, module: ModuleType) -> KeyOrderingMaker | None:
    if spec.key_ordering_attr is None:
        return None
    return cast(KeyOrderingMaker, getattr(module, spec.key_ordering_attr))


def key_ordering_names() -> list[str]:
    """The producer types that support ``partition_by: key`` (without importing them)."""
    return [spec.name for spec in CONNECTORS.values() if spec.key_ordering_attr is not None]


def open_dead_letters(name: str, options: BaseModel) -> DeadLetterStore:
    """The dead-letter store of connector ``name`` for its validated ``options``.

    Raises NoDeadLetterDestination for a connector whose dead letters stay in
    the process (memory, generator), UnknownConnector and ConnectorUnavailable
    as :func:`load` does. Opening connects to nothing: the store connects on use.
    """
    spec = CONNECTORS.get(name)
    if spec is None:
        raise UnknownConnector(name)
    if spec.dead_letters_module is None:
        raise NoDeadLetterDestination(
            f"the {name} producer has no dead-letter destination outside the process: its "
            "dead letters live in the running pipeline's memory and end with it"
        )
    _import(spec)
    module = importlib.import_module(spec.dead_letters_module)
    opener = cast(Callable[[BaseModel], DeadLetterStore], module.open_dead_letters)
    return opener(options)


def provisioner(name: str) -> Provision | None:
    """The connector's ``provision`` coroutine; None when it has nothing to provision."""
    found = _operation(name, "provision", "provision")
    return None if found is None else cast(Provision, found)


def sender(name: str) -> OpenSender | None:
    """The connector's ``open_sender``; None when it has no broker to send to."""
    found = _operation(name, "send", "open_sender")
    return None if found is None else cast(OpenSender, found)


def _operation(name: str, module: str, attribute: str) -> object | None:
    spec = CONNECTORS.get(name)
    if spec is None:
        raise UnknownConnector(name)
    if not spec.operations:
        return None
    _import(spec)  # names the pip extra when the client is missing
    found: object = getattr(importlib.import_module(f"{spec.module}.{module}"), attribute)
    return found


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
