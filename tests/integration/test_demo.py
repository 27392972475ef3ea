"""``broadway-py run config/demo.yaml``, shortened: the final progress line adds up.

The demo's handler fails every 997th order once (retried, then acked ok on its
second attempt) and dead-letters every 20011th; the generator redelivers the
retries, so the totals of the last line account for every order.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from broadway_py.acknowledger import NO_FAILURES, Failed
from broadway_py.message import Message

ROOT = Path(__file__).resolve().parents[2]
COUNT = 30_000
FINAL = re.compile(
    r"finished in [\d.]+s: received (?P<received>\d+), acked ok (?P<ok>\d+) / "
    r"retried (?P<retried>\d+) / dead-lettered (?P<dead_lettered>\d+) / "
    r"discarded (?P<discarded>\d+), in flight (?P<in_flight>\d+)"
)


class _NoAcks:
    async def ack(self, ack_ref: object, successful: object, failed: Failed = NO_FAILURES) -> None:
        raise AssertionError("not acknowledged here")


def _demo_handlers() -> ModuleType:
    spec = importlib.util.spec_from_file_location("demo_handlers", ROOT / "config/demo_handlers.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def expected_outcomes(count: int) -> tuple[int, int]:
    """``(retried, dead_lettered)`` of ``count`` orders, by the demo handler's own rules."""
    handlers = _demo_handlers()
    handler = handlers.OrderHandler()
    retried = dead_lettered = 0
    for n in range(count):
        message = Message({"order": n, "amount_cents": 1250}, _NoAcks(), metadata={"seq": n})
        try:
            handler.handle_message(message)
        except handlers.InvalidOrder:
            dead_lettered += 1  # in never_retry
        except handlers.DownstreamTimeout:
            retried += 1
            message.attempt = 2
            handler.handle_message(message)  # the retry succeeds
    return retried, dead_lettered


def test_the_demo_accounts_for_every_order() -> None:
    retried, dead_lettered = expected_outcomes(COUNT)
    assert retried > 0  # the run below exercises retries
    assert dead_lettered > 0  # and dead letters
    script = Path(sys.executable).with_name("broadway-py")
    env = {**os.environ, "DEMO_MESSAGES": str(COUNT), "DEMO_RATE": "1000000", "DEMO_HTTP_PORT": "0"}
    done = subprocess.run(
        [str(script), "run", "config/demo.yaml"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    finals = [m.groupdict() for m in map(FINAL.search, done.stderr.splitlines()) if m]
    assert len(finals) == 1, done.stderr[-2000:]
    final = {key: int(value) for key, value in finals[0].items()}
    assert final == {
        "received": COUNT + retried,
        "ok": COUNT - dead_lettered,
        "retried": retried,
        "dead_lettered": dead_lettered,
        "discarded": 0,
        "in_flight": 0,
    }
