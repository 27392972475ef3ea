"""deploy/: the compose stack, Prometheus config and rules, the Grafana dashboard, the docs."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.promql import dashboard_expressions, dashboard_panels, rule_expressions
from tests.deploy.tools import CHART, DEPLOY, REPO, load, run, tool

jsonschema = load("jsonschema")
linter = load("yamllint.linter")
YAMLLINT = load("yamllint.config").YamlLintConfig(
    "extends: default\n"
    "rules:\n"
    "  line-length: {max: 130}\n"
    "  document-start: disable\n"
    "  truthy: {check-keys: false}\n"
    "  comments: {min-spaces-from-content: 1}\n"
)

COMPOSE = DEPLOY / "compose.yaml"
DASHBOARD = DEPLOY / "grafana" / "broadway-py.json"
RULES = DEPLOY / "prometheus" / "rules.yml"
ENV_DEFAULT = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*):-([^}]*)\}")


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return document


def seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return sum(float(n) * units[u] for n, u in re.findall(r"([0-9.]+)(ms|s|m|h)", duration))


# ---- YAML hygiene ------------------------------------------------------------------


def test_yaml_files_are_lint_clean() -> None:
    files = [
        *DEPLOY.rglob("*.yml"),
        *DEPLOY.rglob("*.yaml"),
        CHART / "Chart.yaml",
        CHART / "values.yaml",
        *(CHART / "ci").glob("*.yaml"),
    ]
    problems = [
        f"{path.relative_to(REPO)}:{p.line}:{p.column}: {p.message}"
        for path in files
        for p in linter.run(path.read_text(), YAMLLINT, str(path))
    ]
    assert not problems, "\n".join(problems)


# ---- compose -------------------------------------------------------------------------


def test_compose_file_follows_the_compose_spec() -> None:
    vendor = load("check_jsonschema.builtin_schemas.vendor")
    schema_text = (resources.files(vendor) / "compose-spec.json").read_text()
    schema = json.loads(schema_text)
    jsonschema.validators.validator_for(schema)(schema).validate(compose())


def test_compose_runs_the_brokers_the_service_prometheus_and_grafana() -> None:
    services = compose()["services"]
    images = {name: service.get("image", "") for name, service in services.items()}
    assert images["kafka"].startswith(("apache/kafka:", "redpandadata/redpanda:"))
    assert images["rabbitmq"].startswith("rabbitmq:3")
    assert "management" in images["rabbitmq"]
    assert images["sqs"].startswith(("softwaremill/elasticmq", "localstack/localstack:"))
    assert images["prometheus"].startswith("prom/prometheus:")
    assert images["grafana"].startswith("grafana/grafana:")
    for name, image in images.items():
        tag = image.rpartition(":")[2]
        assert ":" in image, f"{name}: pin the image ({image!r})"
        assert tag not in ("latest", ""), f"{name}: pin the image ({image!r})"
    build = services["broadway"]["build"]
    context = (COMPOSE.parent / build["context"]).resolve()
    assert context == REPO
    assert (context / build["dockerfile"]).is_file()


def _sources(service: dict[str, Any], variable_values: dict[str, str]) -> list[tuple[str, str]]:
    mounts = []
    for volume in service.get("volumes", []):
        for name, default in ENV_DEFAULT.findall(volume):
            volume = volume.replace(f"${{{name}:-{default}}}", variable_values.get(name, default))
        source, target = volume.split(":")[:2]
        mounts.append((source, target))
    return mounts


@pytest.mark.parametrize("pipeline", ["kafka", "rabbitmq", "sqs"])
def test_compose_mounts_files_that_exist(pipeline: str) -> None:
    services = compose()["services"]
    targets: dict[str, str] = {}
    for name, service in services.items():
        for source, target in _sources(service, {"BROADWAY_PIPELINE": pipeline}):
            if source.startswith("."):
                assert (COMPOSE.parent / source).exists(), f"{name}: {source} does not exist"
                targets[target] = source
    assert targets["/etc/broadway/pipeline.yaml"] == f"./pipelines/{pipeline}.yaml"
    assert targets["/etc/prometheus/rules.yml"] == "./prometheus/rules.yml"
    assert targets["/var/lib/grafana/dashboards/broadway-py.json"] == "./grafana/broadway-py.json"


def test_compose_service_drains_before_it_is_killed() -> None:
    service = compose()["services"]["broadway"]
    assert service.get("stop_signal", "SIGTERM") == "SIGTERM"
    grace = seconds(service["stop_grace_period"])
    for path in (DEPLOY / "pipelines").glob("*.yaml"):
        drain = yaml.safe_load(path.read_text())["shutdown"]["drain_timeout"]
        assert grace > drain, f"stop_grace_period {grace}s must exceed {path.name}'s drain_timeout"
    assert service["read_only"] is True
    assert service["cap_drop"] == ["ALL"]


def test_prometheus_scrapes_the_compose_service_and_loads_the_rules() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    targets = [
        target
        for job in config["scrape_configs"]
        for static in job.get("static_configs", [])
        for target in static["targets"]
    ]
    services = compose()["services"]
    port = services["broadway"]["ports"][0].rsplit(":", 1)[1]
    assert f"broadway:{port}" in targets
    assert config["rule_files"] == ["rules.yml"]
    provider = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "dashboards" / "broadway-py.yml").read_text()
    )
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"


# ---- Prometheus: promtool ------------------------------------------------------------


def test_promtool_checks_the_rules_and_the_config() -> None:
    promtool = tool("promtool")
    run([promtool, "check", "rules", str(RULES)])
    run([promtool, "check", "config", str(DEPLOY / "prometheus" / "prometheus.yml")])


def test_promtool_unit_tests_of_the_alerts_pass() -> None:
    run([tool("promtool"), "test", "rules", str(DEPLOY / "prometheus" / "rules.test.yml")])


def test_rules_cover_the_operational_alerts() -> None:
    document = yaml.safe_load(RULES.read_text())
    rules = [rule for group in document["groups"] for rule in group["rules"]]
    names = {rule["alert"] for rule in rules}
    assert {
        "BroadwayPipelineStalled",
        "BroadwayDeadLettersRising",
        "BroadwayBacklogGrowing",
        "BroadwayProducerDisconnected",
        "BroadwayStageRestarting",
        "BroadwayPipelineFailed",
        "BroadwayPipelineDown",
    } <= names
    for rule in rules:
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert {"summary", "description", "runbook"} <= set(rule["annotations"]), rule["alert"]
    expressions = rule_expressions(RULES)
    assert "broadway_last_progress_timestamp_seconds" in expressions["BroadwayPipelineStalled"]
    assert 'outcome="dead_lettered"' in expressions["BroadwayDeadLettersRising"]
    tested = yaml.safe_load((DEPLOY / "prometheus" / "rules.test.yml").read_text())
    alerted = {case["alertname"] for test in tested["tests"] for case in test["alert_rule_test"]}
    assert alerted == names, "every alert has a unit test (and every test an alert)"


# ---- Grafana -----------------------------------------------------------------------


def test_dashboard_is_a_grafana_dashboard() -> None:
    document = json.loads(DASHBOARD.read_text())
    assert document["uid"] == "broadway-py"
    assert document["title"]
    assert isinstance(document["schemaVersion"], int)
    panels = dashboard_panels(DASHBOARD)
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        mine = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not mine & cells, f"panel {panel['title']!r} overlaps another"
        cells |= mine
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            assert panel["targets"]
            assert all(t["expr"].strip() for t in panel["targets"])


def test_dashboard_shows_what_an_operator_needs() -> None:
    expressions = list(dashboard_expressions(DASHBOARD).values())

    def shown(*fragments: str) -> bool:
        return any(all(f in expr for f in fragments) for expr in expressions)

    assert shown("broadway_messages_acked_total", "by (outcome)")
    assert shown("broadway_messages_processed_total", "by (outcome)")
    assert shown("broadway_messages_received_total")
    assert shown("broadway_messages_in_flight")
    assert shown("broadway_oldest_in_flight_age_seconds")
    assert shown("histogram_quantile", "broadway_message_processing_seconds_bucket")
    assert shown("histogram_quantile", "broadway_batch_processing_seconds_bucket", "batcher")
    assert shown("broadway_batch_size_messages_bucket", "batcher")
    assert shown("broadway_backlog_messages")
    assert shown("broadway_stage_restarts_total", "by (stage)")
    assert shown("broadway_producer_connected")
    assert shown("broadway_rate_limiter_wait_seconds_total")
    assert shown("broadway_last_progress_timestamp_seconds")


# ---- docs ----------------------------------------------------------------------------


def test_deploy_docs_name_only_files_that_exist() -> None:
    text = (REPO / "docs" / "deploy.md").read_text()
    for section in ("docker build", "helm install", "docker compose", "KEDA", "partition"):
        assert section in text, f"docs/deploy.md should cover {section!r}"
    mentioned = set(re.findall(r"(?<![\w/.-])((?:deploy|helm|scripts|docs)/[\w./-]*\w)", text))
    assert mentioned
    for path in sorted(mentioned):
        assert (REPO / path).exists(), f"docs/deploy.md names {path}, which does not exist"


def test_deploy_readme_paths_in_values_comments_exist() -> None:
    text = (CHART / "values.yaml").read_text() + (DEPLOY / "compose.yaml").read_text()
    for path in set(re.findall(r"(?<![\w/.-])((?:deploy|docs)/[\w./-]*\w)", text)):
        assert (REPO / Path(path)).exists(), path
