"""The repository's Dockerfile, parsed (PyPI `dockerfile`) into its build stages."""

from __future__ import annotations

from typing import Any

from tests.deploy.tools import REPO, load

dockerfile = load("dockerfile")

PIPELINE_PATH = "/etc/broadway/pipeline.yaml"
"""Where the image reads its pipeline file (documented in docs/deploy.md)."""


def instructions() -> list[Any]:
    return list(dockerfile.parse_file(str(REPO / "Dockerfile")))


def stages() -> list[list[Any]]:
    found: list[list[Any]] = []
    for command in instructions():
        if command.cmd == "FROM":
            found.append([])
        assert found, "the Dockerfile must start with FROM"
        found[-1].append(command)
    return found


def only(stage: list[Any], cmd: str) -> Any:
    found = [c for c in stage if c.cmd == cmd]
    assert len(found) == 1, f"the final stage must have exactly one {cmd}, not {len(found)}"
    return found[0]
