"""A real broadway-py service and a real Prometheus scraping it, for the deploy tests.

The service is ``broadway-py run`` (the CLI, in a process of its own) on a
pipeline whose shape moves every ``broadway_*`` series: a Kafka producer on a
multi-partition topic with a backlog kept by the rate limit, a second
(generator) producer, a batcher, and a handler that retries, dead-letters and
holds some messages a while (``prometheus_live_handler.py``). Prometheus is
Debian's ``prometheus`` binary with a generated config: a scrape and a rule
evaluation every second, the repository's alert rules loaded. Both are
stopped by their process, whatever happened.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.promql import dashboard_expressions, metric_names, rule_expressions
from tests.deploy.tools import DEPLOY
from tests.ports import free_port

DASHBOARD = DEPLOY / "grafana" / "broadway-py.json"
RULES = DEPLOY / "prometheus" / "rules.yml"
HANDLER = Path(__file__).with_name("prometheus_live_handler.py")
PIPELINE = "prometheus-live"
INTERVAL = "1s"
"""Prometheus's scrape and evaluation interval."""
STOP_TIMEOUT = 10.0


def used_metric_names() -> dict[str, list[str]]:
    """Every ``broadway_*`` name, as written, in the rules' and the dashboard's expressions.

    Name -> where it is used (``rules.yml: <alert>``, ``dashboard: <panel / refId>``).
    """
    used: dict[str, list[str]] = {}
    sources = {
        RULES.name: rule_expressions(RULES),
        "dashboard": dashboard_expressions(DASHBOARD),
    }
    for source, expressions in sources.items():
        for where, expr in expressions.items():
            for name in metric_names(expr):
                used.setdefault(name, []).append(f"{source}: {where}")
    return used


class Timeout(AssertionError):
    """A :func:`poll_until` that ran out of time (not a failure its condition raised)."""


def poll_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Call ``condition`` until true; after ``timeout`` seconds, a :class:`Timeout`."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            raise Timeout(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.2)  # sleep-ok: poll interval of a deadline-bounded wait


def get_json(url: str) -> Any:
    """GET ``url`` and parse its JSON body (an HTTP error's body too: Prometheus explains there)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        return json.loads(error.read())


def answers(url: str) -> bool:
    """Whether ``url`` answers 200 now."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT)


def pipeline_spec(kafka: Mapping[str, Any], rate_limit: int) -> dict[str, Any]:
    """The pipeline file's content: ``kafka`` is the Kafka producer's options."""
    return {
        "name": PIPELINE,
        "handler": f"{HANDLER.stem}:LiveHandler",
        "producers": {
            "orders": {"kafka": dict(kafka), "concurrency": 1},
            "ticks": {"generator": {"rate": 5, "payload": "tick {seq}"}},
        },
        "processors": {"concurrency": 2, "max_demand": 5},
        "batchers": {"db": {"batch_size": 10, "batch_timeout": 0.2}},
        "rate_limit": {"allowed_messages": rate_limit, "interval": 1},
        "retry": {"max_attempts": 3, "min_delay": 0.2, "max_delay": 0.2},
        "shutdown": {"drain_timeout": 5},
        "http": {"host": "127.0.0.1", "port": 0, "stall_window": 120},
    }


@dataclass
class Spawned:
    """A process of the test's, answering on 127.0.0.1:``port``, its output in ``log``."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @classmethod
    def spawn(cls, name: str, argv: list[str], port: int, log: Path, cwd: Path) -> Spawned:
        with log.open("wb") as sink:
            process = subprocess.Popen(argv, cwd=cwd, stdout=sink, stderr=subprocess.STDOUT)
        return cls(name, process, port, log)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self, tail: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-tail:]

    def check_alive(self) -> None:
        """Raise, with the end of its log, if the process has exited."""
        if self.process.poll() is not None:
            raise AssertionError(
                f"{self.name} exited with {self.process.returncode}:\n{self.output()}"
            )

    def wait_answering(self, path: str, timeout: float) -> None:
        """Wait until ``path`` answers 200 (an AssertionError at once if the process exits)."""

        def answering() -> bool:
            self.check_alive()
            return answers(f"{self.url}{path}")

        poll_until(answering, timeout, f"{self.name} to answer {path} on {self.url}")

    def stop(self) -> None:
        _stop(self.process)


def start_service(work: Path, spec: Mapping[str, Any]) -> Spawned:
    """``broadway-py run`` of ``spec`` (with the test handler) in a process of its own."""
    shutil.copy(HANDLER, work / HANDLER.name)
    config = work / "pipeline.yaml"
    config.write_text(yaml.safe_dump(dict(spec), sort_keys=False))
    cli = Path(sys.executable).with_name("broadway-py")
    port = free_port()
    argv = [str(cli), "run", str(config), "--http-port", str(port)]
    return Spawned.spawn("broadway-py", argv, port, work / "service.log", work)


@dataclass
class Prometheus:
    """Debian's ``prometheus`` on 127.0.0.1, scraping one target and evaluating the rules."""

    server: Spawned

    @property
    def url(self) -> str:
        return self.server.url

    @classmethod
    def start(cls, binary: str, work: Path, target: str, rules: Path = RULES) -> Prometheus:
        config = {
            "global": {"scrape_interval": INTERVAL, "evaluation_interval": INTERVAL},
            "rule_files": [str(rules)],
            "scrape_configs": [
                {"job_name": "broadway-py", "static_configs": [{"targets": [target]}]}
            ],
        }
        (work / "prometheus.yml").write_text(yaml.safe_dump(config))
        port = free_port()
        argv = [
            binary,
            f"--config.file={work / 'prometheus.yml'}",
            f"--storage.tsdb.path={work / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ]
        return cls(Spawned.spawn("prometheus", argv, port, work / "prometheus.log", work))

    def output(self) -> str:
        return self.server.output()

    def wait_ready(self, timeout: float) -> None:
        self.server.wait_answering("/-/ready", timeout)

    def api(self, path: str, **params: str) -> Any:
        """``data`` of a successful API answer; an AssertionError with Prometheus's error else."""
        self.server.check_alive()
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        answer = get_json(f"{self.url}/api/v1/{path}{query}")
        if answer.get("status") != "success":
            raise AssertionError(f"/api/v1/{path} {params}: {answer}")
        return answer["data"]

    def has_data(self, expr: str) -> bool:
        """Whether the instant query ``expr`` returns at least one series."""
        return bool(self.api("query", query=expr)["result"])

    def stop(self) -> None:
        self.server.stop()
