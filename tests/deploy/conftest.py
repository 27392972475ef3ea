"""Shared fixtures of the deploy tests: rendered charts and a live exporter."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.container import Built, build_image
from tests.deploy.exporter import Exposition, LiveExporter
from tests.deploy.tools import CHART, helm

KUBE_VERSION = "1.30.0"
"""The oldest Kubernetes the chart supports (Chart.yaml kubeVersion); also validated: the newest."""

VALUE_SETS: dict[str, Path | None] = {"default": None} | {
    path.stem: path for path in sorted((CHART / "ci").glob("*.yaml"))
}


def render(*args: str) -> list[dict[str, Any]]:
    """``helm template`` of the chart with extra arguments; the rendered documents."""
    result = helm(
        "template",
        "release",
        str(CHART),
        "--namespace",
        "apps",
        "--kube-version",
        KUBE_VERSION,
        *args,
    )
    # Helm prints warnings (a value it ignores, a deprecated API) on stderr: none allowed.
    assert not result.stderr.strip(), f"helm template {' '.join(args)} warned:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def values_args(value_set: str) -> list[str]:
    path = VALUE_SETS[value_set]
    return [] if path is None else ["--values", str(path)]


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[dict[str, Any]]]:
    """Value set name (default, or a file of ci/) -> its rendered manifests."""
    return {name: render(*values_args(name)) for name in VALUE_SETS}


def kind(documents: list[dict[str, Any]], wanted: str) -> list[dict[str, Any]]:
    return [doc for doc in documents if doc["kind"] == wanted]


def one(documents: list[dict[str, Any]], wanted: str) -> dict[str, Any]:
    found = kind(documents, wanted)
    assert len(found) == 1, f"expected one {wanted}, found {len(found)}"
    return found[0]


@pytest.fixture(scope="session")
def live_exporter() -> Iterator[LiveExporter]:
    exporter = LiveExporter()
    exporter.start()
    try:
        exporter.wait_ready(timeout=60)
        yield exporter
    finally:
        exporter.close()


@pytest.fixture(scope="session")
def exposition(live_exporter: LiveExporter) -> Exposition:
    return live_exporter.scrape()


@pytest.fixture(scope="session")
def built() -> Built:
    """The image, built once a session by scripts/image-test.sh (a skip where podman cannot run)."""
    built = build_image()
    base = (
        "a STAND-IN base: the real FROM is untested"
        if built.base_kind == "stand-in"
        else "its real base"
    )
    print(f"\nimage {built.image}: {built.size_bytes / 1e6:.1f} MB, built on {base}")
    return built
