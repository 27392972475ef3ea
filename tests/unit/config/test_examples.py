"""Every example pipeline in config/ validates and builds (with its variables' defaults)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from broadway_py.config import ConfigFileError, load_pipeline

CONFIG = Path(__file__).resolve().parents[3] / "config"
EXAMPLES = sorted(CONFIG.glob("*.yaml"))


def test_the_examples_exist() -> None:
    names = {path.name for path in EXAMPLES}
    assert {"demo.yaml", "memory.yaml", "generator.yaml"} <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_is_valid(path: Path) -> None:
    # Only the variables' defaults: an example must not need the caller's environment.
    env = {k: v for k, v in os.environ.items() if k in ("HOME", "PATH")}
    try:
        loaded, pipeline = load_pipeline(path, env=env)
    except ConfigFileError as error:
        pytest.fail(f"{path.name} is not valid:\n{error}")
    assert pipeline.name == loaded.spec.name
    assert path.stem in {"demo", "memory", "generator"} or loaded.producer_type == path.stem


def test_the_demo_finishes_by_itself_with_failures_and_poison() -> None:
    loaded, _ = load_pipeline(CONFIG / "demo.yaml", env={})
    spec = loaded.spec
    assert loaded.producer_type == "generator"
    options = loaded.options.model_dump()
    assert options["count"] >= 100_000
    assert 10 <= options["count"] / options["rate"] <= 20
    assert spec.batchers
    assert spec.retry.never_retry
    assert spec.logging.progress_interval
