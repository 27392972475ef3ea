"""Reading metric names and label matchers out of PromQL, the alert rules and the dashboard.

A light reader, not a PromQL parser: it finds ``broadway_*`` names, the
``{...}`` selectors that follow them and the ``by / without / on / ignoring``
label lists, which is what the checks against the real exporter need.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

METRIC = re.compile(r"\bbroadway_[A-Za-z0-9_]+\b")
NOT_METRICS = frozenset({"broadway_py"})  # the package's name, in prose
SELECTOR = re.compile(r"\b(broadway_[A-Za-z0-9_]+)\s*\{([^}]*)\}")
MATCHER = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')
GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")


@dataclass(frozen=True)
class Matcher:
    metric: str
    label: str
    op: str
    value: str


def metric_names(text: str) -> set[str]:
    """Every ``broadway_*`` token in ``text`` (PromQL, YAML or JSON)."""
    return set(METRIC.findall(text)) - NOT_METRICS


def matchers(expr: str) -> list[Matcher]:
    """The label matchers of each ``broadway_*{...}`` selector in ``expr``."""
    found = []
    for metric, body in SELECTOR.findall(expr):
        for label, op, value in MATCHER.findall(body):
            found.append(Matcher(metric, label, op, value))
    return found


def grouping_labels(expr: str) -> set[str]:
    """Labels named in by / without / on / ignoring / group_left / group_right lists."""
    labels: set[str] = set()
    for body in GROUPING.findall(expr):
        labels.update(part.strip() for part in body.split(",") if part.strip())
    return labels


def rule_expressions(path: Path) -> dict[str, str]:
    """Alert (or record) name -> expression, from a Prometheus rules file."""
    document = yaml.safe_load(path.read_text())
    found: dict[str, str] = {}
    for group in document["groups"]:
        for rule in group["rules"]:
            found[rule.get("alert") or rule["record"]] = rule["expr"]
    return found


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def dashboard_panels(path: Path) -> list[dict[str, Any]]:
    """Every panel of a Grafana dashboard, rows' nested panels included."""
    return list(_panels(json.loads(path.read_text())["panels"]))


def dashboard_expressions(path: Path) -> dict[str, str]:
    """``panel title / refId`` -> PromQL, for every target and templating query."""
    document = json.loads(path.read_text())
    found: dict[str, str] = {}
    for panel in _panels(document["panels"]):
        for target in panel.get("targets", []):
            found[f"{panel['title']} / {target['refId']}"] = target["expr"]
    for variable in document["templating"]["list"]:
        query = variable.get("query")
        if isinstance(query, dict):
            found[f"variable {variable['name']}"] = query["query"]
    return found


GRAFANA_VARIABLES = {
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$__range": "1h",
    "$pipeline": ".*",
    "$instance": ".*",
}


def executable(expr: str) -> str:
    """A dashboard query with Grafana's variables replaced, ready for Prometheus."""
    label_values = re.fullmatch(r"label_values\((.+),\s*([A-Za-z_][A-Za-z0-9_]*)\)", expr.strip())
    if label_values:
        expr = f"count by ({label_values.group(2)}) ({label_values.group(1)})"
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    if "$" in expr:
        raise ValueError(f"unknown Grafana variable in {expr!r}")
    return expr
