"""The dashboard and the alert rules use only what the exporter really exposes.

The exporter is real (broadway_py.metrics.serve on a memory-broker pipeline)
and so is the Prometheus server (``prometheus_live.Prometheus``) that evaluates
every rule against it: a healthy pipeline fires none. Every dashboard query is
run in test_prometheus_live.py, on a Kafka pipeline that has data for each.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.exporter import Exposition, LiveExporter
from tests.deploy.prometheus_live import Prometheus, poll_until
from tests.deploy.promql import (
    dashboard_expressions,
    grouping_labels,
    matchers,
    metric_names,
    rule_expressions,
)
from tests.deploy.tools import DEPLOY, tool

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
    """Labels of a metric with no series here (a Kafka partition's lag: the memory broker
    has no partitions) are checked by test_prometheus_live.py, where every query returns data."""
    path, read = SOURCES[source]
    problems = []
    for where, expr in read(path).items():
        in_expr = metric_names(expr)
        if not any(exposition.labels.get(metric) for metric in in_expr):
            continue
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


@pytest.fixture(scope="module")
def prometheus(
    live_exporter: LiveExporter, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Prometheus]:
    server = Prometheus.start(
        tool("prometheus"),
        tmp_path_factory.mktemp("prometheus"),
        f"127.0.0.1:{live_exporter.port}",
    )
    try:
        server.wait_ready(30)
        poll_until(lambda: _scrapes(server) >= 3, 30, "three scrapes of the exporter")
        yield server
    finally:
        server.stop()


def _scrapes(server: Prometheus) -> int:
    values = server.api("query", query="count_over_time(broadway_build_info[1m])")["result"]
    return int(float(values[0]["value"][1])) if values else 0


def test_every_rule_evaluates_cleanly_on_real_data(prometheus: Prometheus) -> None:
    def evaluated() -> bool:
        groups = prometheus.api("rules")["groups"]
        return all(r["lastEvaluation"] > "0001-01-02" for g in groups for r in g["rules"])

    poll_until(evaluated, 30, "every rule evaluated")
    groups = prometheus.api("rules")["groups"]
    rules = {rule["name"]: rule for group in groups for rule in group["rules"]}
    assert set(rules) == set(rule_expressions(RULES))
    unhealthy = {
        name: rule.get("lastError") for name, rule in rules.items() if rule["health"] != "ok"
    }
    assert not unhealthy
    # A healthy pipeline that just processed its messages fires nothing.
    firing = [name for name, rule in rules.items() if rule["state"] == "firing"]
    assert not firing
