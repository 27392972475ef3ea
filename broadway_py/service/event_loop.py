"""Which event loop runs the service: ``--loop auto | asyncio | uvloop``.

uvloop (the ``fast`` extra: ``pip install 'broadway-py[fast]'``) replaces
asyncio's loop with one written on libuv. ``auto`` uses it when it is
installed and asyncio's own loop otherwise; ``uvloop`` insists on it (a
clear error when it is missing); ``asyncio`` never uses it. Measured in
bench/ (``--loop``): see docs/performance.md.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable, Coroutine
from typing import Any, Literal, TypeVar, get_args

from broadway_py.errors import ConfigurationError

LoopChoice = Literal["auto", "asyncio", "uvloop"]
CHOICES: tuple[str, ...] = get_args(LoopChoice)
DEFAULT: LoopChoice = "auto"

T = TypeVar("T")


def loop_factory(choice: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The factory of the loop ``choice`` names (None: asyncio's default loop)."""
    if choice not in CHOICES:
        raise ConfigurationError("--loop", f"must be one of {', '.join(CHOICES)}, not {choice!r}")
    if choice == "asyncio":
        return None
    try:
        uvloop = importlib.import_module("uvloop")
    except ImportError:
        if choice == "uvloop":
            raise ConfigurationError(
                "--loop", "uvloop is not installed: pip install 'broadway-py[fast]'"
            ) from None
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def loop_name(choice: str) -> str:
    """``uvloop`` or ``asyncio``: the loop ``choice`` gives here."""
    return "asyncio" if loop_factory(choice) is None else "uvloop"


def run(main: Coroutine[Any, Any, T], choice: str = DEFAULT) -> T:
    """``asyncio.run(main)`` on the loop ``choice`` names."""
    with asyncio.Runner(loop_factory=loop_factory(choice)) as runner:
        return runner.run(main)
