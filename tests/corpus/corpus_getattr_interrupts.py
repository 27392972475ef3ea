"""A handler module whose module ``__getattr__`` raises KeyboardInterrupt (the corpus)."""

from typing import NoReturn


def __getattr__(name: str) -> NoReturn:
    raise KeyboardInterrupt
