"""A worker of ``run --workers N``: its log lines say which worker, its port reaches the parent."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from broadway_py.service.logs import configure_logging
from broadway_py.service.worker_role import WorkerRole, read_port


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


@pytest.mark.usefixtures("restore_logging")
def test_json_lines_get_a_worker_field() -> None:
    out = io.StringIO()
    WorkerRole(2).tag_logs(configure_logging("INFO", "json", stream=out), "json")
    logging.getLogger("broadway_py.progress").info("progress: %d", 5, extra={"ok": 5})
    entry = json.loads(out.getvalue())
    assert (entry["message"], entry["worker"], entry["ok"]) == ("progress: 5", 2, 5)


@pytest.mark.usefixtures("restore_logging")
def test_plain_lines_start_with_the_worker() -> None:
    out = io.StringIO()
    WorkerRole(1).tag_logs(configure_logging("INFO", "plain", stream=out), "plain")
    logging.getLogger("broadway_py.service").info("pipeline %r is running", "p")
    assert (
        out.getvalue().rstrip().endswith("broadway_py.service: [worker 1] pipeline 'p' is running")
    )


def test_the_port_reaches_the_parent_through_the_file(tmp_path: Path) -> None:
    target = tmp_path / "worker-0.port"
    assert read_port(target) is None  # not announced yet
    WorkerRole(0, str(target)).announce_port(41234)
    assert read_port(target) == 41234
    assert [p.name for p in tmp_path.iterdir()] == ["worker-0.port"]  # no temporary left
