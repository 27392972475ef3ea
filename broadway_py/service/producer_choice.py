"""Which producer of a pipeline file an operator command works on.

A file with ``producer:`` has one, unnamed. A file with ``producers:`` has
several by name: ``provision`` works on each of them, while ``send`` and
``dlq`` work on one, named with ``--producer`` (a file with several producers
and no ``--producer`` gets an error naming them, rather than a guess).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from pydantic import BaseModel

from broadway_py.config import LoadedConfig
from broadway_py.connectors import registry
from broadway_py.errors import ConfigurationError


@dataclass(frozen=True)
class ChosenProducer:
    """One producer of a loaded pipeline file."""

    name: str | None
    """Its name under ``producers:``; None for the file's only ``producer:``."""
    connector: registry.Connector
    options: BaseModel
    provision: bool
    """The producer section's ``provision: true`` (provision it at start)."""

    @property
    def label(self) -> str:
        """How output lines name it: ``producer NAME`` or the connector's name."""
        return self.connector.name if self.name is None else f"producer {self.name}"


def every_producer(loaded: LoadedConfig) -> list[ChosenProducer]:
    """The file's producers, in the file's order."""
    spec = loaded.spec
    if not loaded.named or not spec.producers:
        return [ChosenProducer(None, loaded.connector, loaded.options, spec.producer.provision)]
    return [
        ChosenProducer(name, connector, options, spec.producers[name].provision)
        for name, (connector, options) in loaded.named.items()
    ]


def choose_producer(loaded: LoadedConfig, name: str | None) -> ChosenProducer:
    """Producer ``name`` of the file, or its only producer when ``name`` is None.

    Raises ConfigurationError, naming the producers there are, when ``name``
    is None and there are several, or when there is none called ``name``.
    """
    producers = every_producer(loaded)
    if name is None:
        if len(producers) == 1:
            return producers[0]
        names = ", ".join(str(p.name) for p in producers)
        raise ConfigurationError(
            "--producer", f"the file has {len(producers)} producers ({names}): name one"
        )
    for producer in producers:
        if producer.name == name:
            return producer
    if producers[0].name is None:
        raise ConfigurationError(
            "--producer", f"{name!r}: the file has one producer (producer:), not named ones"
        )
    names = ", ".join(str(p.name) for p in producers)
    raise ConfigurationError("--producer", f"no producer {name!r} (the file has {names})")


def add_producer_argument(parser: argparse.ArgumentParser, verb: str) -> None:
    """The ``--producer NAME`` option of a command working on one producer."""
    parser.add_argument(
        "--producer",
        metavar="NAME",
        help=f"the producer (under producers:) whose broker to {verb}; needed when the file "
        "has several",
    )
