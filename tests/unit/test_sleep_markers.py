"""Every sleep in the tests says why: synchronisation waits on a condition, never a sleep.

A sleep is allowed as a poll interval of a deadline-bounded wait, as simulated
work, or as an observation window; each carries ``# sleep-ok: <why>`` on its
line (a plain comment, so ruff and mypy accept it). ``sleep(0)`` only yields.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SLEEP = re.compile(r"\b(?:asyncio|time)\.sleep\((?!0\))")
MARKER = re.compile(r"# sleep-ok: \S")


def test_every_sleep_in_the_tests_and_examples_is_marked_with_its_reason() -> None:
    unmarked = [
        f"{path.relative_to(ROOT)}:{number}"
        for folder in ("tests", "examples")
        for path in sorted((ROOT / folder).rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if SLEEP.search(line) and not MARKER.search(line)
    ]
    assert unmarked == [], "sleeps without '# sleep-ok: <why>': " + ", ".join(unmarked)
