"""A handler module whose module ``__getattr__`` raises (the corpus)."""

from typing import NoReturn


def __getattr__(name: str) -> NoReturn:
    raise SystemExit(f"no attribute {name} for you")
