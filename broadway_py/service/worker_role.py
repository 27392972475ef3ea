"""What a worker process of ``run --workers N`` does differently from a lone ``run``.

The parent (:mod:`.workers`) starts each worker as ``python -m broadway_py run
FILE ... --worker-index I`` with :data:`PORT_FILE_ENV` naming a file. The
worker runs the pipeline as a lone ``run`` would, except that its HTTP server
listens on 127.0.0.1, on a port the kernel picks, and writes that port to the
file once bound (the parent's front reads it), and that its log lines say
which worker wrote them: ``[worker I]`` before the message in plain logs, a
``worker`` field in JSON logs.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

PORT_FILE_ENV = "BROADWAY_WORKER_PORT_FILE"
"""The file a worker writes its HTTP port to, set by the parent."""
INDEX_FLAG = "--worker-index"
"""The hidden ``run`` flag that makes a process worker I of a parent."""
WORKER_HOST = "127.0.0.1"
"""A worker's own HTTP server is for its parent only."""
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class WorkerRole:
    """Worker ``index`` of a parent; ``port_file`` receives its HTTP port."""

    index: int
    port_file: str | None = None

    @classmethod
    def from_environment(cls, index: int) -> WorkerRole:
        return cls(index, os.environ.get(PORT_FILE_ENV) or None)

    def announce_port(self, port: int) -> None:
        """Write the bound port where the parent reads it (whole, or not at all)."""
        if self.port_file is None:
            return
        target = Path(self.port_file)
        fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        with os.fdopen(fd, "w") as out:
            out.write(f"{port}\n")
        os.replace(temporary, target)

    def tag_logs(self, handler: logging.Handler, log_format: str) -> None:
        """Mark every record ``handler`` (configure_logging's) writes with this worker's index."""
        handler.addFilter(_WorkerTag(self.index, plain=log_format != "json"))


def die_with_parent() -> None:
    """Linux: the kernel sends this worker SIGTERM when its parent dies, even by SIGKILL.

    So a worker drains rather than outlives its parent. (Not checked: a parent
    that died before this call; the parent may be PID 1, in a container.)
    """
    if sys.platform != "linux":
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def read_port(path: Path) -> int | None:
    """The port a worker announced in ``path``, or None while it has not."""
    try:
        text = path.read_text()
    except OSError:
        return None
    return int(text) if text.strip().isdigit() else None


class _WorkerTag(logging.Filter):
    def __init__(self, index: int, plain: bool) -> None:
        super().__init__()
        self.index = index
        self.plain = plain

    def filter(self, record: logging.LogRecord) -> bool:
        if self.plain:
            if not getattr(record, "_worker_tagged", False):
                record.msg = f"[worker {self.index}] {record.msg}"
                record._worker_tagged = True
        else:
            record.worker = self.index
        return True
