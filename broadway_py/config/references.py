"""Resolving ``package.module:attribute`` references: handler, transformer, keys, models...

Modules are imported from the installed packages first, then the config file's
folder, then the working directory: those two folders are appended to
``sys.path``, never put in front, so an ``aiohttp.py`` beside a pipeline file
cannot replace the installed aiohttp. Every failure is a short sentence
(``cannot import module 'orders': no module named 'orders' ...``) that the
loader reports at the position of the reference in the file. Whatever the
user's code raises while it is imported, looked up or made (``SystemExit``,
``KeyboardInterrupt`` and other ``BaseException`` s included) is such a failure,
never a traceback or an exit.
"""

from __future__ import annotations

import builtins
import dataclasses
import difflib
import importlib
import inspect
import os
import re
import sys
import sysconfig
import traceback
from collections.abc import Callable, Hashable, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from broadway_py.config.redact import redact_url
from broadway_py.connectors.registry import Connector, key_ordering_names
from broadway_py.errors import ConfigurationError
from broadway_py.handler import Handler
from broadway_py.message import Message

_NOT_USER_CODE = (
    "<frozen",
    *{sysconfig.get_path(p) for p in ("stdlib", "platstdlib", "purelib", "platlib")},
)
_REFERENCE = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*\Z")
METADATA_PREFIX = "metadata."
RECORD_KEY = "key"
"""``partition_by: key``: by the record key, within its partition (see :func:`with_record_keys`)."""

if TYPE_CHECKING:
    from broadway_py.config.loader import References


class UnresolvedReference(Exception):
    """A reference that cannot be resolved; the message says why."""


_MAX_DETAIL = 200


def add_search_paths(folders: Sequence[str]) -> None:
    """Append ``folders`` to sys.path (once each, in order), after the installed packages."""
    for folder in folders:
        folder = os.path.abspath(folder)
        if folder not in sys.path:
            sys.path.append(folder)


def describe(error: BaseException) -> str:
    """``Type: message``, the message cut short and any URL password hidden."""
    text = str(error)
    if len(text) > _MAX_DETAIL:
        text = text[: _MAX_DETAIL - 3] + "..."
    text = redact_url(text)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def import_reference(reference: str) -> Any:
    """The object named by ``package.module:attribute``."""
    if not _REFERENCE.match(reference):
        raise UnresolvedReference(
            f"{reference!r} is not an import path: expected package.module:attribute "
            "(e.g. my_handlers:handle)"
        )
    module_name, _, attribute = reference.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        missing = error.name or ""
        if missing == module_name or module_name.startswith(missing + "."):
            raise UnresolvedReference(
                f"cannot import {reference!r}: no module named {missing!r} (looked in the "
                f"config file's folder, the working directory {os.getcwd()} and the "
                "installed packages)"
            ) from None
        raise UnresolvedReference(_import_failure(reference, error)) from None
    except BaseException as error:  # user code: SystemExit too, all located
        raise UnresolvedReference(_import_failure(reference, error)) from None
    found: Any = module
    walked = module_name
    for part in attribute.split("."):
        try:
            found = getattr(found, part)
        except AttributeError:
            raise UnresolvedReference(
                f"{walked!r} has no attribute {part!r}{_close_name(found, part)}"
            ) from None
        except BaseException as error:  # a module __getattr__ is user code
            raise UnresolvedReference(
                f"looking up {part!r} in {walked!r} failed: {describe(error)}"
            ) from None
        walked = f"{walked}:{part}" if walked == module_name else f"{walked}.{part}"
    return found


def _close_name(found: Any, part: str) -> str:
    try:
        names = [n for n in dir(found) if not n.startswith("_")]
    except BaseException:  # a __dir__ is user code too
        return ""
    close = difflib.get_close_matches(part, names, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _import_failure(reference: str, error: BaseException) -> str:
    where = ""
    if isinstance(error, SyntaxError) and error.filename:
        where = f" ({error.filename}, line {error.lineno})"
        detail = f"SyntaxError: {error.msg}"
    else:
        frames = traceback.extract_tb(error.__traceback__)[1:]  # [0] is import_module here
        user = [f for f in frames if not f.filename.startswith(_NOT_USER_CODE)]
        if user or frames:
            frame = (user or frames)[-1]
            where = f" ({frame.filename}, line {frame.lineno})"
        detail = describe(error)
    return f"importing {reference!r} failed: {detail}{where}"


def _accepts(function: Callable[..., Any], count: int) -> bool | None:
    """Whether ``function`` can be called with ``count`` positional arguments (None: unknown)."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return None
    try:
        signature.bind(*([None] * count))
    except TypeError:
        return False
    return True


def _signature(function: Callable[..., Any]) -> str:
    try:
        return str(inspect.signature(function))
    except (TypeError, ValueError):
        return "(?)"


_CALLBACKS = {
    "handle_message": (1, "(message)"),
    "prepare_messages": (1, "(messages)"),
    "handle_batch": (3, "(batcher, messages, info)"),
    "handle_failed": (1, "(messages)"),
}


def resolve_handler(reference: str) -> Handler | Callable[[Message], Any]:
    """A handler: a function of one message, a Handler subclass (made with no args) or instance."""
    found = import_reference(reference)
    if isinstance(found, type):
        if not issubclass(found, Handler):
            raise UnresolvedReference(
                f"{reference!r} is a class but not a subclass of broadway_py.Handler; "
                "name a Handler subclass or a function of one message"
            )
        try:
            found = found()
        except BaseException as error:  # SystemExit(3) in __init__ too
            raise UnresolvedReference(
                f"cannot create {found.__name__}() with no arguments: {describe(error)}"
            ) from None
    if isinstance(found, Handler):
        _check_callbacks(reference, found)
        return found
    if not callable(found):
        raise UnresolvedReference(
            f"{reference!r} is a {type(found).__name__}, not a function or a Handler subclass"
        )
    if _accepts(found, 1) is False:
        raise UnresolvedReference(
            f"{reference!r} must take one argument (the message), "
            f"but its signature is {_signature(found)}"
        )
    return found  # type: ignore[no-any-return]


def _check_callbacks(reference: str, handler: Handler) -> None:
    kind = type(handler)
    if kind.handle_message is Handler.handle_message:
        raise UnresolvedReference(f"{kind.__name__} ({reference!r}) must define handle_message")
    for name, (count, expected) in _CALLBACKS.items():
        if getattr(kind, name) is getattr(Handler, name):
            continue
        method = getattr(handler, name)
        if not callable(method):
            raise UnresolvedReference(f"{kind.__name__}.{name} must be a method")
        if _accepts(method, count) is False:
            raise UnresolvedReference(
                f"{kind.__name__}.{name} must take {expected}, "
                f"but its signature is {_signature(method)}"
            )


def resolve_function(reference: str, what: str) -> Callable[[Message], Any]:
    """A function of one message (a transformer, a partition key)."""
    found = import_reference(reference)
    if not callable(found) or isinstance(found, type):
        raise UnresolvedReference(
            f"{what} {reference!r} must be a function of one message, "
            f"not a {'class' if isinstance(found, type) else type(found).__name__}"
        )
    if _accepts(found, 1) is False:
        raise UnresolvedReference(
            f"{what} {reference!r} must take one argument (the message), "
            f"but its signature is {_signature(found)}"
        )
    return found  # type: ignore[no-any-return]


def resolve_partition(reference: str) -> Callable[[Message], Hashable]:
    """``metadata.<key>`` (that metadata field), ``key`` or a function of one message."""
    if reference == RECORD_KEY:
        return by_record_key
    if reference.startswith(METADATA_PREFIX):
        key = reference[len(METADATA_PREFIX) :]
        if not key:
            raise UnresolvedReference("write metadata.<key>, e.g. metadata.customer_id")
        return metadata_key(key)
    if ":" not in reference:
        raise UnresolvedReference(
            f"partition_by {reference!r} must be metadata.<key> or package.module:function"
        )
    return resolve_function(reference, "partition_by")


def metadata_key(key: str) -> Callable[[Message], Hashable]:
    def partition(message: Message) -> Hashable:
        return message.metadata.get(key)

    partition.__qualname__ = partition.__name__ = f"{METADATA_PREFIX}{key}"
    return partition


def by_record_key(message: Message) -> Hashable:
    """``partition_by: key`` as resolved; the builder puts the connector's in its place."""
    raise ConfigurationError("partition_by", "key was not resolved for this producer")


def with_record_keys(
    references: References, producers: Sequence[tuple[Connector, Any]]
) -> References:
    """``references`` with each ``partition_by: key`` made the connectors' ``key_ordering``.

    ``producers``: the pipeline's connectors, each with its validated options.
    Raises ConfigurationError naming the ``partition_by`` when a connector has no
    key ordering (the message says which have) or refuses its options.
    """
    processor = references.processor_partition
    batchers = references.batcher_partitions
    if processor is not by_record_key and by_record_key not in batchers.values():
        return references

    def made(place: str) -> Callable[[Message], Hashable]:
        option = f"{place}.partition_by"
        chosen = []
        for connector, options in producers:
            if connector.key_ordering is None:
                raise ConfigurationError(
                    option,
                    f"{RECORD_KEY} (the record key within its partition) is supported by the "
                    f"{', '.join(key_ordering_names())} producer only, not by {connector.name}; "
                    "use metadata.<key> or package.module:function",
                )
            try:
                chosen.append(connector.key_ordering(options))
            except ConfigurationError as error:
                raise ConfigurationError(option, error.problem) from None
        return chosen[0]

    return dataclasses.replace(
        references,
        processor_partition=made("processors") if processor is by_record_key else processor,
        batcher_partitions={
            name: made(f"batchers.{name}") if partition is by_record_key else partition
            for name, partition in batchers.items()
        },
    )


def resolve_exception(reference: str) -> type[BaseException]:
    """``package.module:Class`` or a built-in exception name (``ValueError``)."""
    if ":" in reference:
        found = import_reference(reference)
    else:
        found = getattr(builtins, reference, None)
        if found is None:
            names = [n for n in dir(builtins) if n[:1].isupper()]
            close = difflib.get_close_matches(reference, names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise UnresolvedReference(
                f"{reference!r} is not a built-in exception{hint}; "
                "name others as package.module:Class"
            )
    if not (isinstance(found, type) and issubclass(found, BaseException)):
        raise UnresolvedReference(f"{reference!r} is not an exception class")
    return found


def resolve_model(reference: str) -> type[BaseModel]:
    """``package.module:Class`` of a pydantic model (``decode.model``)."""
    found = import_reference(reference)
    if not (isinstance(found, type) and issubclass(found, BaseModel)):
        kind = "class" if isinstance(found, type) else type(found).__name__
        raise UnresolvedReference(
            f"model {reference!r} is a {kind}, not a pydantic model "
            "(a subclass of pydantic.BaseModel)"
        )
    return found
