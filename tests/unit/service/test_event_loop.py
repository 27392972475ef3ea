"""--loop: uvloop when asked or installed, asyncio's loop otherwise, a clear error when missing."""

from __future__ import annotations

import asyncio
import importlib
from types import ModuleType

import pytest

from broadway_py.errors import ConfigurationError
from broadway_py.service import event_loop


async def loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__


def test_asyncio_never_uses_uvloop() -> None:
    assert event_loop.loop_factory("asyncio") is None
    assert event_loop.run(loop_module(), "asyncio").startswith("asyncio")


def test_auto_and_uvloop_use_uvloop_when_installed() -> None:
    pytest.importorskip("uvloop")
    assert event_loop.loop_name("auto") == "uvloop"
    assert event_loop.run(loop_module(), "auto").startswith("uvloop")
    assert event_loop.run(loop_module(), "uvloop").startswith("uvloop")


def test_without_uvloop_auto_falls_back_and_uvloop_is_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = importlib.import_module

    def import_module(name: str, package: str | None = None) -> ModuleType:
        if name == "uvloop":
            raise ImportError("No module named 'uvloop'")
        return real(name, package)

    monkeypatch.setattr(importlib, "import_module", import_module)
    assert event_loop.loop_name("auto") == "asyncio"
    assert event_loop.run(loop_module(), "auto").startswith("asyncio")
    with pytest.raises(ConfigurationError, match=r"uvloop is not installed: pip install"):
        event_loop.loop_factory("uvloop")


def test_an_unknown_choice_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="must be one of auto, asyncio, uvloop"):
        event_loop.loop_factory("trio")
