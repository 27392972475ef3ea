"""Loads a pipeline file: YAML with positions, ``--set`` overrides, validation, imports.

:func:`load_config` runs every step it can and raises one
:class:`~broadway_py.config.problems.ConfigFileError` holding all the problems
found, each at its ``file:line:col``.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel

from broadway_py.config.files import read_text
from broadway_py.config.models import CONNECTOR_KEYS, PipelineSpec, check_name
from broadway_py.config.overrides import Override, apply
from broadway_py.config.problems import (
    ConfigFileError,
    Path,
    Position,
    Problem,
    Problems,
    dotted,
)
from broadway_py.config.references import (
    UnresolvedReference,
    add_search_paths,
    describe,
    resolve_exception,
    resolve_function,
    resolve_handler,
    resolve_model,
    resolve_partition,
)
from broadway_py.config.source import SourceMap, load_yaml
from broadway_py.config.validation import validate
from broadway_py.connectors import registry
from broadway_py.handler import Handler
from broadway_py.message import Message

T = TypeVar("T")


@dataclass
class References:
    """The objects a pipeline file names by import path, resolved."""

    handler: Handler | Callable[[Message], Any]
    transformer: Callable[[Message], Any] | None = None
    decode_model: type[BaseModel] | None = None
    processor_partition: Callable[[Message], Hashable] | None = None
    batcher_partitions: dict[str, Callable[[Message], Hashable]] = field(default_factory=dict)
    never_retry: tuple[type[BaseException], ...] = ()
    # With ``producers:``, each named producer's transformer and decode model.
    transformers: dict[str, Callable[[Message], Any] | None] = field(default_factory=dict)
    decode_models: dict[str, type[BaseModel] | None] = field(default_factory=dict)


@dataclass
class LoadedConfig:
    """A validated pipeline file, ready to build."""

    source: str
    spec: PipelineSpec
    connector: registry.Connector
    options: BaseModel
    references: References
    positions: SourceMap
    named: dict[str, tuple[registry.Connector, BaseModel]] = field(default_factory=dict)
    """With ``producers:``, each producer's connector and options by name (``connector``
    and ``options`` are then the first's); empty with ``producer:``."""

    @property
    def producer_type(self) -> str:
        return self.connector.name


def load_config(
    path: str | os.PathLike[str],
    overrides: Sequence[Override] = (),
    env: Mapping[str, str] | None = None,
) -> LoadedConfig:
    """Read, interpolate, override, validate and resolve a pipeline file.

    Raises ConfigFileError with every problem found.
    """
    source = os.fspath(path)
    problems = Problems()
    text = read_text(source)
    data, positions = load_yaml(text, source, os.environ if env is None else env, problems)
    if data is None:
        problems.raise_if_any()
    if not isinstance(data, dict):
        problems.add(
            positions.root,
            "expected a mapping (name, handler, producer, ...) at the top level, "
            f"not a {type(data).__name__}",
        )
        problems.raise_if_any()
    skip = positions.unresolved
    _normalize_batchers(data, positions, problems)
    apply(data, list(overrides), positions, problems)
    spec = validate(PipelineSpec, data, (), positions, problems, skip)
    named = _named_producers(data, positions, problems, skip)
    chosen = (
        next(iter(named.values()), None) if named else _connector(data, positions, problems, skip)
    )
    add_search_paths([str(pathlib.Path(source).resolve().parent), os.getcwd()])
    references = _references(data, positions, problems, skip)
    problems.raise_if_any()
    if not isinstance(spec, PipelineSpec) or chosen is None or references is None:
        # Every step that fails reports why; this is only a safety net.
        raise ConfigFileError([Problem(positions.root, "the pipeline file is not valid")])
    return LoadedConfig(source, spec, chosen[0], chosen[1], references, positions, named)


def _named_producers(
    data: dict[str, Any], positions: SourceMap, problems: Problems, skip: set[Path]
) -> dict[str, tuple[registry.Connector, BaseModel]]:
    """``producers:``: each named producer's connector and options (empty without it)."""
    producers = data.get("producers")
    if producers is None:
        return {}
    if "producer" in data:
        problems.add(
            positions.key(("producers",)),
            "producers: set either producer (one producer) or producers (several, by name), "
            "not both",
        )
    if not isinstance(producers, dict):
        return {}  # the schema reports it
    named = {}
    for name in producers:
        chosen = _connector(data, positions, problems, skip, ("producers", name))
        if chosen is not None:
            named[name] = chosen
    return named if len(named) == len(producers) else {}


def _normalize_batchers(data: dict[str, Any], positions: SourceMap, problems: Problems) -> None:
    """Batchers may be a mapping by name or a list of mappings with ``name``; keep the mapping."""
    batchers = data.get("batchers")
    if isinstance(batchers, dict):
        for name in batchers:
            _check_batcher_name(name, positions.key(("batchers", name)), problems)
        return
    if not isinstance(batchers, list):
        return
    result: dict[str, Any] = {}
    for index, item in enumerate(batchers):
        path: Path = ("batchers", index)
        if not isinstance(item, dict):
            problems.add(
                positions.value(path),
                f"{dotted(path)}: a batcher is a mapping with a name, e.g. "
                "{name: db, batch_size: 100}",
            )
            continue
        name = item.get("name")
        if name is None:
            problems.add(positions.value(path), f"{dotted(path)}: missing required key 'name'")
            continue
        name_at = positions.value((*path, "name"))
        if not _check_batcher_name(name, name_at, problems):
            continue
        if name in result:
            problems.add(name_at, f"{dotted(path)}: another batcher is already named {name!r}")
            continue
        result[name] = {key: value for key, value in item.items() if key != "name"}
        positions.alias(path, ("batchers", name))
    data["batchers"] = result


def _check_batcher_name(name: Any, where: Position, problems: Problems) -> bool:
    try:
        if not isinstance(name, str):
            raise ValueError(f"a batcher name is text, not {name!r}")
        check_name(name, "a batcher name")
    except ValueError as error:
        problems.add(where, f"batchers: {error}")
        return False
    return True


def _connector(
    data: dict[str, Any],
    positions: SourceMap,
    problems: Problems,
    skip: set[Path],
    at: Path = ("producer",),
) -> tuple[registry.Connector, BaseModel] | None:
    """The connector and options of the producer block at ``at`` (``producers.<name>``)."""
    producer: Any = data
    for part in at:
        producer = producer.get(part) if isinstance(producer, dict) else None
    if not isinstance(producer, dict):
        return None  # missing or not a mapping: the schema reports it
    here = dotted(at)
    present = [key for key in CONNECTOR_KEYS if key in producer]
    if not present:
        problems.add(
            positions.key(at),
            f"{here}: name one producer type: {', '.join(CONNECTOR_KEYS)}",
        )
        return None
    for extra in present[1:]:
        problems.add(
            positions.key((*at, extra)),
            f"{here}: one producer type per "
            + ("pipeline" if at == ("producer",) else "producer")
            + f", but both {present[0]!r} and {extra!r} are set",
        )
    name = present[0]
    section = producer[name]
    if section is None:
        section = {}
    if not isinstance(section, dict):
        return None  # the schema reports it
    try:
        connector = registry.load(name)
    except registry.ConnectorUnavailable as error:
        problems.add(positions.key((*at, name)), f"{here}.{name}: {error}")
        return None
    section = _dead_letter_destination(data, connector, section, positions, problems, at)
    options = validate(connector.options, section, (*at, name), positions, problems, skip)
    return None if options is None else (connector, options)


def _dead_letter_destination(
    data: dict[str, Any],
    connector: registry.Connector,
    section: dict[str, Any],
    positions: SourceMap,
    problems: Problems,
    at: Path = ("producer",),
) -> dict[str, Any]:
    """Fill the connector's dead-letter option from ``dead_letter.destination``.

    With ``producers:`` it fills each producer's (those that have no dead-letter
    destination are an error, as for one producer).
    """
    dead_letter = data.get("dead_letter")
    destination = dead_letter.get("destination") if isinstance(dead_letter, dict) else None
    if destination is None:
        return section
    path: Path = ("dead_letter", "destination")
    where = positions.value(path)
    retry = data.get("retry")
    if isinstance(retry, dict) and retry.get("dead_letter") is False:
        problems.add(
            where,
            f"{dotted(path)}: is set, but retry.dead_letter is false, so failed messages "
            "are discarded, never dead-lettered",
        )
    option = connector.dead_letter_option
    if option is None:
        problems.add(
            where,
            f"{dotted(path)}: the {connector.name} producer has no dead-letter destination "
            "(see docs/configuration.md, 'Dead letters'); remove this key",
        )
        return section
    if option in section:
        if section[option] != destination:
            problems.add(
                where,
                f"{dotted(path)}: conflicts with {dotted(at)}.{connector.name}.{option} "
                f"({section[option]!r}); set only one of them",
            )
        return section
    positions.values[(*at, connector.name, option)] = where
    return {**section, option: destination}


def _references(
    data: dict[str, Any], positions: SourceMap, problems: Problems, skip: set[Path]
) -> References | None:
    def resolve(path: Path, resolver: Callable[[str], T]) -> T | None:
        node: Any = data
        for part in path:
            if not isinstance(node, dict | list):
                return None
            try:
                node = node[part]  # type: ignore[index]
            except (KeyError, IndexError, TypeError):
                return None
        if isinstance(node, int | float) and not isinstance(node, bool):
            node = str(node)  # the schema took it as text: say what is wrong with it
        if not isinstance(node, str) or any(path[: len(bad)] == bad for bad in skip):
            return None  # absent, or the wrong type (the schema reports it)
        try:
            return resolver(node)
        except UnresolvedReference as error:
            problems.add(positions.value(path), f"{dotted(path)}: {error}")
            return None
        except BaseException as error:  # user code (a class's __init_subclass__...)
            problems.add(
                positions.value(path), f"{dotted(path)}: resolving it failed: {describe(error)}"
            )
            return None

    count = len(problems.found)
    handler = resolve(("handler",), resolve_handler)
    found = References(handler or _no_handler)
    found.transformer = resolve(
        ("producer", "transformer"), lambda ref: resolve_function(ref, "transformer")
    )
    found.decode_model = resolve(("producer", "decode", "model"), resolve_model)
    producers = data.get("producers")
    for name in producers if isinstance(producers, dict) else ():
        found.transformers[name] = resolve(
            ("producers", name, "transformer"), lambda ref: resolve_function(ref, "transformer")
        )
        found.decode_models[name] = resolve(("producers", name, "decode", "model"), resolve_model)
    found.processor_partition = resolve(("processors", "partition_by"), resolve_partition)
    batchers = data.get("batchers")
    if isinstance(batchers, dict):
        for name in batchers:
            partition = resolve(("batchers", name, "partition_by"), resolve_partition)
            if partition is not None:
                found.batcher_partitions[name] = partition
    retry = data.get("retry")
    never = retry.get("never_retry") if isinstance(retry, dict) else None
    if isinstance(never, list):
        exceptions = [
            resolve(("retry", "never_retry", index), resolve_exception)
            for index in range(len(never))
        ]
        found.never_retry = tuple(e for e in exceptions if e is not None)
    if handler is None or len(problems.found) > count:
        return None
    return found


def _no_handler(message: Message) -> Message:
    return message


def problem_at(positions: SourceMap, option: str, message: str) -> Problem:
    """A problem about the dotted ``option`` (as core's ConfigurationError names it)."""
    path: Path = tuple(option.split("."))
    return Problem(positions.value(path), message)
