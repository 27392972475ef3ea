"""The README's operations example runs as written, against the local RabbitMQ."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.rabbitmq


def readme_operations() -> list[str]:
    """The command lines of the README's "Operating a pipeline" block."""
    text = (ROOT / "README.md").read_text()
    section = text.split("### Operating a pipeline", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block is not None
    return [line.split("  #")[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_the_readme_operations_example() -> None:
    lines = readme_operations()
    assert [re.search(r"broadway-py (\w+)", line).group(1) for line in lines] == [  # type: ignore[union-attr]
        "provision",
        "send",
        "dlq",
        "dlq",
        "dlq",
    ]
    queue = f"readme.{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "RABBITMQ_URL": os.environ.get(
            "BROADWAY_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:35672/"
        ),
        "RABBITMQ_QUEUE": queue,
    }
    python = f"{sys.executable} -m broadway_py"
    outputs = []
    for line in lines:
        done = subprocess.run(
            ["bash", "-c", line.replace(".venv/bin/broadway-py", python)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, (line, done.stdout, done.stderr)
        outputs.append(done.stdout)
    provision, send, listed, replay, purge = outputs
    assert f"created: queue '{queue}'" in provision
    assert "sent 1, confirmed 1" in send
    assert "dead letters in RabbitMQ queue 'orders.dlq'" in listed
    assert "dry run: would replay" in replay
    assert "nothing changed" in replay
    assert purge.startswith("purged ")
    assert "guest:guest@" not in "".join(outputs)  # the URL's password is masked
