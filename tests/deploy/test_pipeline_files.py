"""The pipelines the deploy files ship are valid for broadway-py itself.

`broadway-py validate` checks the compose stack's pipelines and the pipeline
of every chart value set, exactly as the pods will see it: the rendered
ConfigMap written out as /etc/broadway, with the container's arguments.
Handlers that live in the user's image are stood in for by stub modules.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import VALUE_SETS, one
from tests.deploy.tools import DEPLOY, REPO

STUB_CLASS = """from broadway_py import Handler


class {name}(Handler):
    def handle_message(self, message):
        return message

    def handle_batch(self, batcher, messages, info):
        return messages
"""
STUB_FUNCTION = """def {name}(message):
    return message
"""
ENVIRONMENT = {"POD_NAME": "release-broadway-py-0", "RABBITMQ_URL": "amqp://u:p@rabbitmq:5672/"}


def validate(files: list[Path], *options: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("BROADWAY_")}
    env.update(ENVIRONMENT)
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run(
        [sys.executable, "-m", "broadway_py", "validate", *options, *map(str, files)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_compose_pipelines_validate() -> None:
    files = sorted((DEPLOY / "pipelines").glob("*.yaml"))
    assert [f.stem for f in files] == ["kafka", "rabbitmq", "sqs"]
    result = validate(files, cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(": ok") == len(files)


def _stub(folder: Path, reference: str) -> None:
    module, _, attribute = reference.partition(":")
    path = folder.joinpath(*module.split(".")).with_suffix(".py")
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    for package in path.relative_to(folder).parents:
        if package != Path("."):
            (folder / package / "__init__.py").touch()
    template = STUB_CLASS if attribute[:1].isupper() else STUB_FUNCTION
    path.write_text(template.format(name=attribute))


def _set_options(args: list[str]) -> list[str]:
    """The container's --set arguments (the rest of `run`'s arguments do not apply)."""
    options = []
    for index, arg in enumerate(args):
        if arg == "--set":
            options += ["--set", args[index + 1]]
    return options


@pytest.mark.parametrize("value_set", list(VALUE_SETS))
def test_chart_pipelines_validate_as_the_pod_sees_them(
    rendered: dict[str, list[dict[str, Any]]], value_set: str, tmp_path: Path
) -> None:
    documents = rendered[value_set]
    etc = tmp_path / "etc-broadway"
    etc.mkdir()
    for name, content in one(documents, "ConfigMap")["data"].items():
        (etc / name).write_text(content)
    config = yaml.safe_load((etc / "pipeline.yaml").read_text())
    _stub(etc, config["handler"])
    container = one(documents, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    result = validate([etc / "pipeline.yaml"], *_set_options(container["args"]), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
