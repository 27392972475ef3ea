"""``--loop auto | asyncio | uvloop`` for a benchmark, as ``broadway-py run --loop`` chooses it."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Coroutine
from typing import Any

from broadway_py.service.event_loop import CHOICES, DEFAULT, loop_name, run


def run_main(main: Callable[[list[str]], Coroutine[Any, Any, int]], argv: list[str]) -> int:
    """Run ``main(rest)`` on the loop ``--loop`` names in ``argv`` (the rest goes to ``main``)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--loop", choices=CHOICES, default=DEFAULT)
    known, rest = parser.parse_known_args(argv)
    print(f"event loop: {loop_name(known.loop)} (--loop {known.loop})")
    return run(main(rest), known.loop)
