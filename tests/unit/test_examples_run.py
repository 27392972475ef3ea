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


def test_tracing_example_prints_a_retry_as_a_child_of_its_first_attempt() -> None:
    done = subprocess.run(
        [sys.executable, "examples/tracing.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    trace = "trace 0af7651916cd43dd8448eb211c80319c"
    lines = done.stdout.splitlines()
    assert f"message 2 attempt 1: failed retry; {trace}, child of the upstream request" in lines
    assert f"message 2 attempt 2: ok; {trace}, child of attempt 1" in lines
    for n in (1, 3):
        assert f"message {n} attempt 1: ok; {trace}, child of the upstream request" in lines
    batched = [line for line in lines if line.startswith("orders batch db: ")]
    assert batched
    assert sum(int(line.split()[3]) for line in batched) == 3  # every ok delivery, once
