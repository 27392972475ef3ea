"""``broadway-py run`` with ``tracing.enabled``: the SDK provider it installs prints the spans."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def spans_printed(stdout: str) -> list[dict[str, object]]:
    """The JSON objects the console exporter printed (each spans several lines)."""
    decoder = json.JSONDecoder()
    found: list[dict[str, object]] = []
    index = stdout.find("{")
    while index != -1:
        value, end = decoder.raw_decode(stdout, index)
        if isinstance(value, dict) and "context" in value:
            found.append(value)
        index = stdout.find("{", end)
    return found


def test_run_with_tracing_prints_a_span_per_delivery_and_per_batch() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["DEMO_MESSAGES"] = "3"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "broadway_py",
            "run",
            "config/demo.yaml",
            "--set",
            "tracing.enabled=true",
            "--set",
            "http.enabled=false",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    spans = spans_printed(done.stdout)
    names = sorted(str(s["name"]) for s in spans)
    # Three orders, the first of which (seq 0: every 997th) fails once and is retried.
    assert names.count("demo process") == 4
    batches = [s for s in spans if s["name"] != "demo process"]
    assert {str(s["name"]) for s in batches} == {"demo batch warehouse"}
    counts = [s["attributes"]["messaging.batch.message_count"] for s in batches]  # type: ignore[index]
    assert sum(counts) == 3  # each order's successful delivery, once
    outcomes = sorted(
        str(s["attributes"]["broadway.outcome"])  # type: ignore[index]
        for s in spans
        if s["name"] == "demo process"
    )
    assert outcomes == ["failed", "ok", "ok", "ok"]
