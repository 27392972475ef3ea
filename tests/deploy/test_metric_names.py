"""The dashboard and the alert rules use only what the exporter really exposes.

The exporter is real (broadway_py.metrics.serve on a memory-broker pipeline)
and so is the Prometheus server that evaluates every rule and every dashboard
query against it.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.exporter import Exposition, LiveExporter
from tests.deploy.promql import (
    dashboard_expressions,
    executable,
    grouping_labels,
    matchers,
    metric_names,
    rule_expressions,
)
from tests.deploy.tools import DEPLOY, tool
from tests.ports import free_port

DASHBOARD = DEPLOY / "grafana" / "broadway-py.json"
RULES = DEPLOY / "prometheus" / "rules.yml"
RULE_TESTS = DEPLOY / "prometheus" / "rules.test.yml"
TARGET_LABELS = {"job", "instance", "namespace", "pod", "service", "endpoint", "container"}
CLOSED_LABELS = {"outcome", "stage", "state"}
"""Labels whose values are a fixed set: a matcher must use one the exporter emits."""

SOURCES = {
    "dashboard": (DASHBOARD, dashboard_expressions),
    "rules": (RULES, rule_expressions),
}


def test_the_exporter_exposes_the_broadway_metrics(exposition: Exposition) -> None:
    assert "broadway_messages_received_total" in exposition.series
    assert "broadway_message_processing_seconds_bucket" in exposition.series
    received = [
        line
        for line in exposition.text.splitlines()
        if line.startswith("broadway_messages_received_total{")
    ]
    assert received
    assert float(received[0].rsplit(" ", 1)[1]) >= 50


@pytest.mark.parametrize("source", [DASHBOARD, RULES, RULE_TESTS], ids=lambda p: p.name)
def test_every_metric_name_used_is_exposed(exposition: Exposition, source: Path) -> None:
    used = metric_names(source.read_text())
    assert used, f"{source.name} uses no broadway_ metric"
    unknown = sorted(used - exposition.series)
    assert not unknown, f"{source.name} uses metrics the exporter does not expose: {unknown}"


@pytest.mark.parametrize("source", list(SOURCES))
def test_labels_and_label_values_used_are_exposed(exposition: Exposition, source: str) -> None:
    path, read = SOURCES[source]
    problems = []
    for where, expr in read(path).items():
        in_expr = metric_names(expr)
        known = set(TARGET_LABELS) | {"le"}
        for metric in in_expr:
            known |= exposition.labels.get(metric, set())
        for matcher in matchers(expr):
            labels = exposition.labels.get(matcher.metric, set()) | TARGET_LABELS
            if matcher.label not in labels:
                problems.append(f"{where}: {matcher.metric} has no label {matcher.label!r}")
            elif matcher.label in CLOSED_LABELS and matcher.op in ("=", "!="):
                values = exposition.values.get((matcher.metric, matcher.label), set())
                if matcher.value not in values:
                    problems.append(
                        f"{where}: {matcher.metric}{{{matcher.label}={matcher.value!r}}}: "
                        f"the exporter emits {sorted(values)}"
                    )
        for label in grouping_labels(expr) - known:
            problems.append(f"{where}: groups by {label!r}, a label of none of {sorted(in_expr)}")
    assert not problems, "\n".join(problems)


def test_the_dashboard_shows_every_metric_family(exposition: Exposition) -> None:
    """A metric the exporter adds must reach the dashboard (deploy/grafana/broadway-py.json)."""
    shown = {exposition.families[name] for name in metric_names(DASHBOARD.read_text())}
    exposed = {family for family in exposition.families.values() if family.startswith("broadway_")}
    assert sorted(exposed - shown) == []


# ---- a real Prometheus ----------------------------------------------------------------


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


class PrometheusServer:
    def __init__(self, process: subprocess.Popen[bytes], port: int) -> None:
        self.process = process
        self.url = f"http://127.0.0.1:{port}"

    def query(self, expr: str) -> Any:
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        try:
            return _get(url)
        except urllib.error.HTTPError as error:
            return json.loads(error.read())

    def wait(self, what: str, condition: Any, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise AssertionError(f"prometheus exited with {self.process.returncode}")
            try:
                if condition():
                    return
            except OSError:
                pass  # not listening yet
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}")
            time.sleep(0.2)  # sleep-ok: poll interval of a deadline-bounded wait


@pytest.fixture(scope="module")
def prometheus(
    live_exporter: LiveExporter, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrometheusServer]:
    binary = tool("prometheus")
    work = tmp_path_factory.mktemp("prometheus")
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [
            {
                "job_name": "broadway-py",
                "static_configs": [{"targets": [f"127.0.0.1:{live_exporter.port}"]}],
            }
        ],
    }
    (work / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = (work / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={work / 'prometheus.yml'}",
            f"--storage.tsdb.path={work / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = PrometheusServer(process, port)
    try:
        server.wait("three scrapes of the exporter", lambda: _scrapes(server) >= 3)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


def _scrapes(server: PrometheusServer) -> int:
    result = server.query("count_over_time(broadway_build_info[1m])")
    values = result.get("data", {}).get("result", [])
    return int(float(values[0]["value"][1])) if values else 0


def test_every_rule_evaluates_cleanly_on_real_data(prometheus: PrometheusServer) -> None:
    def evaluated() -> bool:
        groups = _get(f"{prometheus.url}/api/v1/rules")["data"]["groups"]
        return all(r["lastEvaluation"] > "0001-01-02" for g in groups for r in g["rules"])

    prometheus.wait("every rule evaluated", evaluated)
    groups = _get(f"{prometheus.url}/api/v1/rules")["data"]["groups"]
    rules = {rule["name"]: rule for group in groups for rule in group["rules"]}
    assert set(rules) == set(rule_expressions(RULES))
    unhealthy = {
        name: rule.get("lastError") for name, rule in rules.items() if rule["health"] != "ok"
    }
    assert not unhealthy
    # A healthy pipeline that just processed its messages fires nothing.
    firing = [name for name, rule in rules.items() if rule["state"] == "firing"]
    assert not firing


def test_every_dashboard_query_returns_data(prometheus: PrometheusServer) -> None:
    problems = []
    for where, expr in dashboard_expressions(DASHBOARD).items():
        result = prometheus.query(executable(expr))
        if result["status"] != "success":
            problems.append(f"{where}: {result.get('error')}")
        elif not result["data"]["result"]:
            problems.append(f"{where}: no series for {executable(expr)}")
    assert not problems, "\n".join(problems)
