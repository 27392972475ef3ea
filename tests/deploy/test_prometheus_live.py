"""The alert rules and the dashboard against a real Prometheus scraping a running broadway-py.

``broadway-py run`` (the CLI) consumes a three-partition Kafka topic with a
backlog, retries, dead letters, batches and messages in flight (see
``prometheus_live.py``); Debian's ``prometheus`` scrapes it every second and
evaluates ``deploy/prometheus/rules.yml`` every second. Every metric name the
rules and the Grafana dashboard use (read from the files, as written: a
histogram's ``_bucket``, a counter's ``_total``) must return data, and every
rule must load and evaluate healthy. Run it alone with
``.venv/bin/pytest tests/deploy/test_prometheus_live.py`` (the Kafka broker
of ``scripts/brokers/all.sh start`` running, ``prometheus`` installed by
``scripts/install-tools.sh``; a missing one fails the test).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.prometheus_live import (
    DASHBOARD,
    RULES,
    Prometheus,
    Spawned,
    Timeout,
    pipeline_spec,
    poll_until,
    start_service,
    used_metric_names,
)
from tests.deploy.promql import dashboard_expressions, executable, rule_expressions
from tests.deploy.tools import tool
from tests.integration.kafka.broker import BOOTSTRAP, FAST_GROUP, create_topics, publish, unique

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

PARTITIONS = 3
PER_PARTITION = 200
RATE_LIMIT = 40
"""Messages a second: the 600 messages take longer than the test, so the topic keeps a lag."""
DATA_TIMEOUT = 45.0
NEVER = "0001-01-01T00:00:00Z"
"""``lastEvaluation`` of a rule or group Prometheus has not evaluated yet."""


def _payload(partition: int, index: int) -> bytes:
    """Every 10th fails once (retried), every 25th is poison, every 5th is slow."""
    if index % 10 == 0:
        kind = "flaky"
    elif index % 25 == 1:
        kind = "poison"
    elif index % 5 == 2:
        kind = "slow"
    else:
        kind = "ok"
    return f"{kind}-{partition}-{index}".encode()


async def _topic_with_messages(topic: str) -> None:
    await create_topics([topic], PARTITIONS)
    for partition in range(PARTITIONS):
        payloads = [_payload(partition, index) for index in range(PER_PARTITION)]
        await publish(topic, payloads, partition=partition)


@dataclass
class Live:
    service: Spawned
    prometheus: Prometheus

    def api(self, path: str) -> Any:
        """A Prometheus API answer's data, once both processes are seen running."""
        self.service.check_alive()
        return self.prometheus.api(path)

    def has_data(self, expr: str) -> bool:
        self.service.check_alive()
        return self.prometheus.has_data(expr)

    def logs(self) -> str:
        return (
            f"--- broadway-py\n{self.service.output()}\n--- prometheus\n{self.prometheus.output()}"
        )


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    binary = tool("prometheus")
    work = tmp_path_factory.mktemp("prometheus-live")
    topic, group = unique("prometheus-live"), unique("prometheus-live-group")
    asyncio.run(_topic_with_messages(topic))
    kafka = {
        "bootstrap_servers": BOOTSTRAP,
        "topics": [topic],
        "group_id": group,
        "auto_offset_reset": "earliest",
        **FAST_GROUP,
    }
    service = start_service(work, pipeline_spec(kafka, RATE_LIMIT))
    try:
        service.wait_answering("/metrics", timeout=60)
        prometheus = Prometheus.start(binary, work, f"127.0.0.1:{service.port}")
        try:
            prometheus.wait_ready(timeout=30)
            yield Live(service, prometheus)
        finally:
            prometheus.stop()
    finally:
        service.stop()


def test_prometheus_scrapes_the_service(live: Live) -> None:
    target = f"127.0.0.1:{live.service.port}"
    latest: list[dict[str, Any]] = []

    def up() -> bool:
        latest[:] = live.api("targets")["activeTargets"]
        return any(t["labels"]["instance"] == target and t["health"] == "up" for t in latest)

    try:
        poll_until(up, 30, f"the target {target} to be up")
    except Timeout as error:
        raise AssertionError(f"{error}; targets: {latest}\n{live.logs()}") from None
    (scraped,) = [t for t in latest if t["labels"]["instance"] == target]
    assert scraped["lastError"] == ""


def test_every_metric_of_the_rules_and_the_dashboard_returns_data(live: Live) -> None:
    used = used_metric_names()
    assert used, "the rules and the dashboard use no broadway_ metric"
    missing = sorted(used)

    def all_have_data() -> bool:
        missing[:] = [name for name in missing if not live.has_data(name)]
        return not missing

    try:
        poll_until(all_have_data, DATA_TIMEOUT, "every metric name to return data")
    except Timeout as error:
        lines = [f"{name} (used in {'; '.join(used[name])})" for name in missing]
        raise AssertionError(
            f"{error}; these returned nothing:\n" + "\n".join(lines) + f"\n{live.logs()}"
        ) from None


def test_every_dashboard_query_returns_data(live: Live) -> None:
    """Each panel's whole query, not only its metric names, returns series."""
    queries = {where: executable(expr) for where, expr in dashboard_expressions(DASHBOARD).items()}
    empty = dict(queries)

    def all_answer() -> bool:
        for where in list(empty):
            if live.has_data(empty[where]):
                del empty[where]
        return not empty

    try:
        poll_until(all_answer, DATA_TIMEOUT, "every dashboard query to return data")
    except Timeout as error:
        lines = [f"{where}: {query}" for where, query in empty.items()]
        raise AssertionError(f"{error}; no series:\n" + "\n".join(lines)) from None


def _groups_in(path: Path) -> set[str]:
    return {group["name"] for group in yaml.safe_load(path.read_text())["groups"]}


def test_every_rule_loads_and_evaluates_healthy(live: Live) -> None:
    def groups() -> dict[str, dict[str, Any]]:
        answer = live.api("rules")["groups"]
        return {group["name"]: group for group in answer}

    first: dict[str, str] = {}

    def evaluated_once() -> bool:
        first.update({name: g["lastEvaluation"] for name, g in groups().items()})
        return bool(first) and NEVER not in first.values()

    def evaluated_twice() -> bool:
        now = groups()
        return all(now[name]["lastEvaluation"] != when for name, when in first.items())

    poll_until(evaluated_once, 30, "a first evaluation of every rule group")
    poll_until(evaluated_twice, 30, "a second evaluation of every rule group")
    loaded = groups()
    assert set(loaded) == _groups_in(RULES)
    rules = {rule["name"]: rule for group in loaded.values() for rule in group["rules"]}
    assert set(rules) == set(rule_expressions(RULES))
    unhealthy = {
        name: (rule["health"], rule.get("lastError", ""))
        for name, rule in rules.items()
        if rule["health"] != "ok" or rule.get("lastError")
    }
    assert not unhealthy, f"rules that do not evaluate cleanly: {unhealthy}"
