"""Upstream CustomResourceDefinitions as strict JSON schemas (tests/deploy/crds/, see NOTICE.md).

A CRD's openAPIV3Schema is close to JSON Schema but not quite. The API server
(with strict field validation, as `kubectl apply --validate=strict` and Helm
4's server-side apply use) rejects a field the schema does not declare,
unless the object says x-kubernetes-preserve-unknown-fields; so every object
schema with ``properties`` and no ``additionalProperties`` is closed here.
``x-kubernetes-int-or-string`` becomes "integer or string"; ``nullable``
admits null. CEL rules (x-kubernetes-validations) are not evaluated.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

CRDS = Path(__file__).parent / "crds"


def _convert(node: Any) -> Any:
    if isinstance(node, list):
        return [_convert(item) for item in node]
    if not isinstance(node, dict):
        return node
    schema = {
        key: _convert(value)
        for key, value in node.items()
        if not key.startswith("x-kubernetes-") and key != "nullable"
    }
    if node.get("x-kubernetes-int-or-string"):
        schema.pop("type", None)
        schema["type"] = ["integer", "string"]
    if (
        "properties" in node
        and "additionalProperties" not in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        schema["additionalProperties"] = False
    if node.get("nullable") and isinstance(schema.get("type"), str):
        schema["type"] = [schema["type"], "null"]
    return schema


@cache
def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> JSON schema, for every served version of every vendored CRD."""
    schemas: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(CRDS.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        spec = crd["spec"]
        for version in spec["versions"]:
            if not version.get("served", True):
                continue
            schema = _convert(version["schema"]["openAPIV3Schema"])
            schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
            schema["title"] = f"{spec['names']['kind']} ({path.name})"
            schemas[(f"{spec['group']}/{version['name']}", spec["names"]["kind"])] = schema
    return schemas
