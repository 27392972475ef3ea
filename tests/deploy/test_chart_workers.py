"""The chart's ``workers``: BROADWAY_WORKERS in the pod, and a CPU request to match."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import one, render
from tests.deploy.tools import CHART, helm

RABBITMQ = {
    "name": "p",
    "handler": "demo_handler:handle",
    "producer": {"rabbitmq": {"url": "${RABBITMQ_URL}", "queue": "orders"}},
}


def container(tmp_path: Path, values: dict[str, Any]) -> dict[str, Any]:
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    found: dict[str, Any] = one(render("--values", str(path)), "Deployment")["spec"]["template"][
        "spec"
    ]["containers"][0]
    return found


def workers_env(found: dict[str, Any]) -> list[str]:
    return [e["value"] for e in found["env"] if e["name"] == "BROADWAY_WORKERS"]


@pytest.mark.parametrize(
    ("values", "env", "cpu"),
    [
        ({}, [], "100m"),  # the default: the file's workers (1), one worker's CPU
        ({"workers": 3}, ["3"], "300m"),
        ({"workers": 4, "cpuPerWorker": "0.5"}, ["4"], "2000m"),
        ({"workers": 2, "cpuPerWorker": 1}, ["2"], "2000m"),
        ({"pipeline": {"config": {**RABBITMQ, "workers": 4}}}, [], "400m"),  # from the file
        ({"workers": 2, "resources": {"requests": {"cpu": "750m"}}}, ["2"], "750m"),  # as set
    ],
)
def test_workers_set_the_variable_and_size_the_cpu_request(
    tmp_path: Path, values: dict[str, Any], env: list[str], cpu: str
) -> None:
    found = container(tmp_path, values)
    assert workers_env(found) == env
    assert found["resources"]["requests"]["cpu"] == cpu
    assert found["resources"]["limits"] == {"memory": "512Mi"}  # the rest as given


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"workers": 0}, "minimum: got 0, want 1"),
        ({"cpuPerWorker": "lots"}, "cpuPerWorker"),
    ],
)
def test_bad_workers_values_are_rejected(
    tmp_path: Path, values: dict[str, Any], message: str
) -> None:
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    result = helm("template", "r", str(CHART), "--values", str(path), check=False)
    assert result.returncode != 0
    assert message in result.stderr
