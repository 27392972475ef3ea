"""The README's Python example runs as documented."""

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_quickstart_runs_and_dead_letters_the_bad_order() -> None:
    done = subprocess.run(
        [sys.executable, "examples/quickstart.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "saved 1000 orders in batches; acked 1000" in done.stdout
    assert "dead letter after 3 attempts: b'{not json'" in done.stdout
