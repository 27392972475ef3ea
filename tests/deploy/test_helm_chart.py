"""The Helm chart: lint, render every value set, validate the manifests strictly."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import KUBE_VERSION, VALUE_SETS, kind, one, render, values_args
from tests.deploy.crd_schema import crd_schemas
from tests.deploy.tools import CHART, helm, load, run, tool

jsonschema = load("jsonschema")
kubernetes_validate = load("kubernetes_validate")

KUBE_VERSIONS = (KUBE_VERSION, kubernetes_validate.utils.latest_version())
FREE_FORM = {"properties.global", "properties.pipeline.properties.config", "properties.affinity"}
"""Values the schema leaves open on purpose (see its description)."""


def validate_manifest(doc: dict[str, Any]) -> None:
    """Strictly: Kubernetes' own schemas, or the upstream CRD's (tests/deploy/crds/)."""
    schema = crd_schemas().get((doc["apiVersion"], doc["kind"]))
    if schema is not None:
        jsonschema.Draft202012Validator(schema).validate(doc)
        return
    group = doc["apiVersion"].rpartition("/")[0]
    assert "." not in group or group.endswith(".k8s.io"), (
        f"{doc['apiVersion']} {doc['kind']}: a custom resource without a vendored CRD"
    )
    for version in KUBE_VERSIONS:
        kubernetes_validate.validate(doc, version, strict=True)


def pod_spec(documents: list[dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = one(documents, "Deployment")["spec"]["template"]["spec"]
    return spec


def write_values(tmp_path: Path, values: dict[str, Any]) -> str:
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    return str(path)


# ---- lint and render ---------------------------------------------------------


@pytest.mark.parametrize("value_set", list(VALUE_SETS))
def test_helm_lint_strict(value_set: str) -> None:
    helm("lint", "--strict", str(CHART), *values_args(value_set))


@pytest.mark.parametrize("value_set", list(VALUE_SETS))
def test_rendered_manifests_validate_strictly(
    rendered: dict[str, list[dict[str, Any]]], value_set: str
) -> None:
    documents = rendered[value_set]
    kinds = {doc["kind"] for doc in documents}
    assert {"Deployment", "ConfigMap", "Service"} <= kinds
    for doc in documents:
        try:
            validate_manifest(doc)
        except (jsonschema.ValidationError, kubernetes_validate.ValidationError) as error:
            path = ".".join(str(p) for p in error.path)
            pytest.fail(f"{value_set}: {doc['kind']} {path}: {error.message}", pytrace=False)


def test_the_validators_reject_what_they_should(rendered: dict[str, list[dict[str, Any]]]) -> None:
    """A sanity check of the check: an unknown field fails, in a built-in kind and in a CRD."""
    deployment = json.loads(json.dumps(one(rendered["default"], "Deployment")))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_manifest(deployment)
    scaled = json.loads(json.dumps(one(rendered["kafka-keda-values"], "ScaledObject")))
    scaled["spec"]["triggers"][0]["metadata"]["lagThreshold"] = 500
    with pytest.raises(jsonschema.ValidationError):
        validate_manifest(scaled)


@pytest.mark.parametrize(
    ("value_set", "kind_name"),
    [
        ("kafka-keda-values", "ScaledObject"),
        ("kafka-keda-values", "ServiceMonitor"),
    ],
)
def test_the_crd_schemas_are_strict_about_unknown_fields(
    rendered: dict[str, list[dict[str, Any]]], value_set: str, kind_name: str
) -> None:
    document = json.loads(json.dumps(one(rendered[value_set], kind_name)))
    validate_manifest(document)
    document["spec"]["minReplicaCont"] = 1
    with pytest.raises(jsonschema.ValidationError, match="minReplicaCont"):
        validate_manifest(document)


def test_the_alert_rules_fit_a_prometheus_rule_of_the_operator() -> None:
    """deploy/prometheus/rules.yml, as a prometheus-operator PrometheusRule, is valid."""
    rules = yaml.safe_load((CHART.parents[1] / "deploy" / "prometheus" / "rules.yml").read_text())
    resource = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "broadway-py", "labels": {"release": "kube-prometheus-stack"}},
        "spec": rules,
    }
    validate_manifest(resource)
    resource["spec"]["groups"][0]["rules"][0]["for"] = "five minutes"
    with pytest.raises(jsonschema.ValidationError):
        validate_manifest(resource)


def test_the_keda_examples_validate() -> None:
    for path in sorted((CHART.parents[1] / "deploy" / "keda").glob("*.yaml")):
        documents = [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
        assert {doc["kind"] for doc in documents} == {"ScaledObject", "TriggerAuthentication"}
        for doc in documents:
            validate_manifest(doc)


# ---- what each value set makes ---------------------------------------------------


def test_autoscalers_per_value_set(rendered: dict[str, list[dict[str, Any]]]) -> None:
    expected = {
        "default": (False, False),
        "admin-token-values": (False, False),
        "minimal-memory-values": (False, False),
        "rabbitmq-hpa-values": (True, False),
        "kafka-keda-values": (False, True),
        "sqs-keda-values": (False, True),
    }
    assert set(expected) == set(VALUE_SETS), "a new ci/ value set: add it here"
    for value_set, (hpa, keda) in expected.items():
        documents = rendered[value_set]
        assert bool(kind(documents, "HorizontalPodAutoscaler")) == hpa, value_set
        assert bool(kind(documents, "ScaledObject")) == keda, value_set
        deployment = one(documents, "Deployment")
        # An autoscaler owns the replica count: the Deployment must not reset it.
        assert ("replicas" in deployment["spec"]) == (not (hpa or keda)), value_set
    triggers = {
        value_set: [t["type"] for t in one(rendered[value_set], "ScaledObject")["spec"]["triggers"]]
        for value_set in ("kafka-keda-values", "sqs-keda-values")
    }
    assert triggers == {"kafka-keda-values": ["kafka"], "sqs-keda-values": ["aws-sqs-queue"]}


def test_keda_triggers_for_each_broker(tmp_path: Path) -> None:
    values = {
        "autoscaling": {
            "keda": {
                "enabled": True,
                "triggers": {
                    "kafka": {
                        "enabled": True,
                        "bootstrapServers": "k:9092",
                        "consumerGroup": "g",
                        "topic": "t",
                    },
                    "rabbitmq": {"enabled": True, "queueName": "q", "hostFromEnv": "RABBITMQ_URL"},
                    "sqs": {"enabled": True, "queueURL": "https://sqs/q", "awsRegion": "eu-west-1"},
                },
            }
        }
    }
    documents = render("--values", write_values(tmp_path, values))
    scaled = one(documents, "ScaledObject")
    validate_manifest(scaled)
    by_type = {t["type"]: t["metadata"] for t in scaled["spec"]["triggers"]}
    assert by_type["kafka"]["consumerGroup"] == "g"
    assert by_type["kafka"]["allowIdleConsumers"] == "false"
    assert by_type["rabbitmq"]["queueName"] == "q"
    assert by_type["rabbitmq"]["mode"] == "QueueLength"
    assert by_type["aws-sqs-queue"]["queueURL"] == "https://sqs/q"
    assert (
        scaled["spec"]["scaleTargetRef"]["name"] == one(documents, "Deployment")["metadata"]["name"]
    )


def test_servicemonitor_is_opt_in(rendered: dict[str, list[dict[str, Any]]]) -> None:
    assert not kind(rendered["default"], "ServiceMonitor")
    monitor = one(rendered["kafka-keda-values"], "ServiceMonitor")
    service = one(rendered["kafka-keda-values"], "Service")
    assert monitor["spec"]["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"]
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert set(monitor["spec"]["selector"]["matchLabels"].items()) <= set(
        service["metadata"]["labels"].items()
    )


@pytest.mark.parametrize("value_set", list(VALUE_SETS))
def test_pod_is_locked_down_and_probed(
    rendered: dict[str, list[dict[str, Any]]], value_set: str
) -> None:
    documents = rendered[value_set]
    spec = pod_spec(documents)
    (container,) = spec["containers"]
    pod_security, security = spec["securityContext"], container["securityContext"]
    assert pod_security["runAsNonRoot"] is True
    assert isinstance(pod_security["runAsUser"], int)
    assert pod_security["runAsUser"] > 0
    assert pod_security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert security["runAsNonRoot"] is True
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    assert (
        volumes[mounts["/etc/broadway"]]["configMap"]["name"]
        == one(documents, "ConfigMap")["metadata"]["name"]
    )
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert container["resources"]["requests"]
    assert container["resources"]["limits"]
    port = container["ports"][0]["containerPort"]
    args = container["args"]
    assert args[:2] == ["run", "/etc/broadway/pipeline.yaml"]
    assert args[args.index("--http-port") + 1] == str(port)
    assert "http.host=0.0.0.0" in args, "the HTTP port must listen beyond the pod's loopback"
    assert one(documents, "Service")["spec"]["ports"][0]["port"] == port
    if value_set != "minimal-memory-values":
        assert one(documents, "PodDisruptionBudget")["spec"]["unhealthyPodEvictionPolicy"]


@pytest.mark.parametrize("value_set", list(VALUE_SETS))
def test_configmap_holds_exactly_the_pipeline_given(
    rendered: dict[str, list[dict[str, Any]]], value_set: str
) -> None:
    path = VALUE_SETS[value_set]
    values = yaml.safe_load((CHART / "values.yaml").read_text())["pipeline"]
    if path is not None:
        values |= yaml.safe_load(path.read_text()).get("pipeline", {})
    data = one(rendered[value_set], "ConfigMap")["data"]
    config = values["config"]
    if config is None:
        demo = (CHART / "files" / "demo-pipeline.yaml").read_text()
        assert data["pipeline.yaml"] == demo, "null is the chart's demo, verbatim"
    elif isinstance(config, str):
        assert data["pipeline.yaml"] == config, "a string pipeline is copied verbatim"
    else:
        # A mapping replaces the chart's default whole: nothing of the demo merged in.
        assert yaml.safe_load(data["pipeline.yaml"]) == config
    assert set(data) == {"pipeline.yaml"} | {f["name"] for f in values["files"]}
    for file in values["files"]:
        assert data[file["name"]] == file["content"]


# ---- values schema ---------------------------------------------------------------


def _open_objects(schema: Any, path: str = "") -> list[str]:
    """Paths of object schemas that accept unknown keys (no additionalProperties)."""
    found: list[str] = []
    if isinstance(schema, dict):
        is_object = schema.get("type") == "object" or (
            isinstance(schema.get("type"), list) and "object" in schema["type"]
        )
        if is_object and "additionalProperties" not in schema:
            found.append(path.lstrip("."))
        for key, value in schema.items():
            found += _open_objects(value, f"{path}.{key}")
    elif isinstance(schema, list):
        for index, value in enumerate(schema):
            found += _open_objects(value, f"{path}.{index}")
    return found


def test_values_schema_is_closed_everywhere() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert schema["additionalProperties"] is False
    assert sorted(_open_objects(schema)) == sorted(FREE_FORM)
    run([tool("check-jsonschema"), "--check-metaschema", str(CHART / "values.schema.json")])
    run(
        [
            tool("check-jsonschema"),
            "--schemafile",
            str(CHART / "values.schema.json"),
            str(CHART / "values.yaml"),
        ]
    )
    # Each ci/ file is an overlay: the schema applies to it merged over values.yaml.
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    for name, path in VALUE_SETS.items():
        if path is not None:
            merged = helm_merge(defaults, yaml.safe_load(path.read_text()))
            errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(merged)]
            assert not errors, f"{name}: {errors}"


def helm_merge(base: Any, overlay: Any) -> Any:
    """Helm's coalescing: mappings merge, a null deletes, anything else replaces."""
    if not (isinstance(base, dict) and isinstance(overlay, dict)):
        return overlay
    merged = dict(base)
    for key, value in overlay.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = helm_merge(base.get(key), value) if key in base else value
    return merged


@pytest.mark.parametrize(
    ("values", "misspelt"),
    [
        ({"replicaCont": 2}, "replicaCont"),
        ({"autoscaling": {"keda": {"triggers": {"kafka": {"lagTreshold": 5}}}}}, "lagTreshold"),
        ({"securityContext": {"runAsUsr": 1000}}, "runAsUsr"),
        ({"env": [{"name": "A", "vaule": "b"}]}, "vaule"),
    ],
)
def test_a_misspelt_key_is_rejected(tmp_path: Path, values: dict[str, Any], misspelt: str) -> None:
    file = write_values(tmp_path, values)
    for command in (["template", "r", str(CHART)], ["lint", "--strict", str(CHART)]):
        result = helm(*command, "--values", file, check=False)
        assert result.returncode != 0, f"helm {command[0]} accepted {misspelt!r}"
        assert misspelt in result.stdout + result.stderr


BOTH = {"autoscaling": {"hpa": {"enabled": True}, "keda": {"enabled": True}}}
PDB_BOTH = {"podDisruptionBudget": {"minAvailable": 1, "maxUnavailable": 1}}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (BOTH, "hpa.enabled and keda.enabled are both true: enable either hpa or keda, not both"),
        (PDB_BOTH, "minAvailable and maxUnavailable are both set: set one of them, not both"),
        ({"fullnameOverride": "Bad_Name"}, "at '/fullnameOverride': 'Bad_Name' does not match"),
        ({"nameOverride": "Bad_Name"}, "at '/nameOverride': 'Bad_Name' does not match"),
        ({"serviceAccount": {"name": "Bad_Name"}}, "at '/serviceAccount/name'"),
        (
            {"admin": {"tokenSecret": {"name": "Bad_Name", "key": "token"}}},
            "at '/admin/tokenSecret/name'",
        ),
    ],
)
def test_contradictions_and_bad_names_are_rejected_saying_what_is_wrong(
    tmp_path: Path, values: dict[str, Any], message: str
) -> None:
    """The message a person reads names the problem, at template, lint and lint --strict alike."""
    file = write_values(tmp_path, values)
    for command in (
        ["template", "r", str(CHART)],
        ["lint", str(CHART)],
        ["lint", "--strict", str(CHART)],
    ):
        result = helm(*command, "--values", file, check=False)
        assert result.returncode != 0, f"helm {' '.join(command)} accepted {values}"
        assert message in result.stdout + result.stderr, result.stdout + result.stderr
        assert "'not' failed" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (BOTH, "autoscaling: enable either hpa or keda, not both"),
        (PDB_BOTH, "podDisruptionBudget: set minAvailable or maxUnavailable, not both"),
    ],
)
def test_the_templates_check_it_too(tmp_path: Path, values: dict[str, Any], message: str) -> None:
    """Without the schema (--skip-schema-validation) the templates still refuse, saying why."""
    values = json.loads(json.dumps(values))
    values.setdefault("autoscaling", {}).setdefault("keda", {})["triggers"] = {
        "sqs": {"enabled": True, "queueURL": "https://sqs/q", "awsRegion": "eu-west-1"}
    }
    file = write_values(tmp_path, values)
    command = ["template", "r", str(CHART), "--skip-schema-validation", "--values", file]
    result = helm(*command, check=False)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr


def test_a_release_name_kubernetes_would_refuse_is_rejected() -> None:
    result = helm("template", "1st", str(CHART), check=False)
    assert result.returncode != 0
    assert 'the resource name "1st-broadway-py"' in result.stderr
    assert "starting with a letter" in result.stderr


@pytest.mark.parametrize("value_set", list(VALUE_SETS))
def test_documented_values_render_without_a_warning(value_set: str) -> None:
    result = helm("template", "r", str(CHART), *values_args(value_set))
    assert result.stderr == "", result.stderr
    lint = helm("lint", "--strict", str(CHART), *values_args(value_set))
    assert "[WARNING]" not in lint.stdout, lint.stdout


# ---- the admin endpoints' token -----------------------------------------------------


def _env(documents: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e for e in pod_spec(documents)["containers"][0]["env"]}


def test_admin_token_comes_from_the_secret_named(rendered: dict[str, list[dict[str, Any]]]) -> None:
    documents = rendered["admin-token-values"]
    token = _env(documents)["BROADWAY_ADMIN_TOKEN"]
    assert token == {
        "name": "BROADWAY_ADMIN_TOKEN",
        "valueFrom": {"secretKeyRef": {"name": "broadway-admin", "key": "token"}},
    }
    args = pod_spec(documents)["containers"][0]["args"]
    assert args[args.index("http.admin=true") - 1] == "--set"
    for value_set in ("default", "minimal-memory-values"):
        assert "BROADWAY_ADMIN_TOKEN" not in _env(rendered[value_set])
        assert "http.admin=true" not in pod_spec(rendered[value_set])["containers"][0]["args"]


def test_admin_token_twice_is_rejected(tmp_path: Path) -> None:
    values = {
        "admin": {"tokenSecret": {"name": "s", "key": "k"}},
        "env": [{"name": "BROADWAY_ADMIN_TOKEN", "value": "x"}],
    }
    result = helm(
        "template", "r", str(CHART), "--values", write_values(tmp_path, values), check=False
    )
    assert result.returncode != 0
    assert "BROADWAY_ADMIN_TOKEN is set by admin.tokenSecret" in result.stderr


# ---- config rollouts and the grace period ------------------------------------------


def checksum(documents: list[dict[str, Any]]) -> str:
    deployment = one(documents, "Deployment")
    value: str = deployment["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
    return value


def test_a_config_change_changes_the_checksum(tmp_path: Path) -> None:
    base = render()
    changed = render("--set-string", "pipeline.config=name: other\nhandler: demo_handler:handle\n")
    same_config = render("--set", "replicaCount=3")
    new_file = render(
        "--set",
        "pipeline.files[0].name=demo_handler.py",
        "--set-string",
        "pipeline.files[0].content=def handle(m): return m",
    )
    assert len(checksum(base)) == 64
    assert checksum(changed) != checksum(base)
    assert checksum(new_file) != checksum(base)
    assert checksum(same_config) == checksum(base)


@pytest.mark.parametrize(
    ("shutdown", "extra", "expected"),
    [
        ({"drain_timeout": 10}, {}, 10 + 15),
        ({"drain_timeout": 45.5}, {}, 46 + 15),
        (None, {}, 30 + 15),
        ({"drain_timeout": 0}, {"terminationGraceMarginSeconds": 5}, 5),
        ({"drain_timeout": 20}, {"lifecycle": {"preStopSleepSeconds": 7}}, 20 + 15 + 7),
        ({"drain_timeout": 20}, {"terminationGracePeriodSeconds": 300}, 300),
    ],
)
def test_termination_grace_follows_the_drain_timeout(
    tmp_path: Path, shutdown: dict[str, float] | None, extra: dict[str, Any], expected: int
) -> None:
    config: dict[str, Any] = {
        "name": "p",
        "handler": "demo_handler:handle",
        "producer": {"generator": {}},
    }
    if shutdown is not None:
        config["shutdown"] = shutdown
    documents = render(
        "--values", write_values(tmp_path, {"pipeline": {"config": config}, **extra})
    )
    spec = pod_spec(documents)
    assert spec["terminationGracePeriodSeconds"] == expected
    sleep = extra.get("lifecycle", {}).get("preStopSleepSeconds")
    container = spec["containers"][0]
    if sleep:
        assert container["lifecycle"]["preStop"]["sleep"]["seconds"] == sleep
    else:
        assert "lifecycle" not in container
    drain = (shutdown or {}).get("drain_timeout", 30)
    if "terminationGracePeriodSeconds" not in extra:
        assert expected >= math.ceil(drain) + (sleep or 0), "SIGKILL would cut the drain short"


def test_a_drain_timeout_from_an_env_var_needs_an_explicit_grace_period(tmp_path: Path) -> None:
    config = (
        "name: p\nhandler: h:f\nproducer: {generator: {}}\nshutdown:\n  drain_timeout: ${DRAIN}\n"
    )
    result = helm(
        "template",
        "r",
        str(CHART),
        "--values",
        write_values(tmp_path, {"pipeline": {"config": config}}),
        check=False,
    )
    assert result.returncode != 0
    assert "terminationGracePeriodSeconds" in result.stderr
    fixed = render(
        "--values",
        write_values(
            tmp_path, {"pipeline": {"config": config}, "terminationGracePeriodSeconds": 90}
        ),
    )
    assert pod_spec(fixed)["terminationGracePeriodSeconds"] == 90
