"""What ``echo`` and ``graph`` print: the resolved config, the topology as text or DOT."""

from __future__ import annotations

import enum
from typing import Any

import yaml

from broadway_py.config.loader import LoadedConfig
from broadway_py.config.models import CONNECTOR_KEYS, ProducerSpec
from broadway_py.config.redact import redact
from broadway_py.pipeline import Pipeline


def resolved(loaded: LoadedConfig) -> dict[str, Any]:
    """The config after interpolation, overrides and defaults, secrets redacted."""
    data = loaded.spec.model_dump(mode="python")
    producer = {k: v for k, v in data["producer"].items() if k not in CONNECTOR_KEYS}
    # JSON mode: a connector's own serializers (a URL with its password masked) apply.
    options = loaded.options.model_dump(mode="json")
    data["producer"] = {loaded.producer_type: options, **producer}
    if loaded.named:  # producers: each by name; producer was only the first of them
        del data["producer"]
        for name, (connector, own) in loaded.named.items():
            generic = {k: v for k, v in data["producers"][name].items() if k not in CONNECTOR_KEYS}
            data["producers"][name] = {connector.name: own.model_dump(mode="json"), **generic}
    else:
        del data["producers"]
    plain: dict[str, Any] = _plain(redact(data))
    return plain


def echo_yaml(loaded: LoadedConfig) -> str:
    header = f"# {loaded.source}, resolved (defaults filled in, secrets redacted)\n"
    return header + yaml.safe_dump(
        resolved(loaded), sort_keys=False, default_flow_style=False, allow_unicode=True
    )


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if isinstance(value, enum.Enum):
        return _plain(value.value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _settings(**values: Any) -> str:
    shown = [f"{k} {v}" for k, v in values.items() if v is not None]
    return f" ({', '.join(shown)})" if shown else ""


def graph_text(loaded: LoadedConfig, pipeline: Pipeline) -> str:
    """The topology, one stage group per line, in the order messages flow."""
    topology = pipeline.describe()
    processors = topology["processors"]
    lines = [f"pipeline {topology['name']}"]
    for name, kind, section in _producers(loaded):
        lines.append(
            f"  producer {'' if name is None else name + ': '}{kind} x{section.concurrency}"
            + _settings(decode=section.decode, transformer=section.transformer)
        )
    limit = topology["rate_limit"]
    if limit is not None:
        lines.append(
            f"  -> rate limiter ({limit['allowed_messages']} messages per {limit['interval']}s)"
        )
    lines.append(
        f"  -> processors x{processors['concurrency']}"
        + _settings(
            max_demand=processors["max_demand"],
            partition_by=processors["partition_by"],
            executor=processors["executor"],
        )
    )
    for batcher in topology["batchers"]:
        lines.append(
            f"     -> batcher {batcher['name']}"
            + _settings(
                batch_size=batcher["batch_size"],
                max_bytes=batcher["max_bytes"],
                batch_timeout=f"{batcher['batch_timeout']}s",
            )
            + f" -> batch processors x{batcher['concurrency']}"
            + _settings(partition_by=batcher["partition_by"])
        )
    retry = topology["retry"]
    failed = "dead-letter" if retry["dead_letter"] else "discard"
    lines.append(
        f"  failures: retry up to {retry['max_attempts']} attempts "
        f"({retry['min_delay']}s..{retry['max_delay']}s), then {failed}"
    )
    return "\n".join(lines) + "\n"


def _producers(loaded: LoadedConfig) -> list[tuple[str | None, str, ProducerSpec]]:
    """(name, type, section) of each producer; the name is None for a file's one ``producer``."""
    spec = loaded.spec
    if not loaded.named or spec.producers is None:
        return [(None, loaded.producer_type, spec.producer)]
    return [
        (name, connector.name, spec.producers[name])
        for name, (connector, _) in loaded.named.items()
    ]


def _quote(*lines: str) -> str:
    """A DOT string; each of ``lines`` on a line of its own."""
    text = "\\n".join(line.replace("\\", "\\\\").replace('"', '\\"') for line in lines)
    return f'"{text}"'


def graph_dot(loaded: LoadedConfig, pipeline: Pipeline) -> str:
    """The topology as a Graphviz digraph (``broadway-py graph --dot f.yaml | dot -Tsvg``)."""
    spec = loaded.spec
    topology = pipeline.describe()
    processors = topology["processors"]
    producer = topology["producer"]
    out = [
        f"digraph {_quote(topology['name'])} {{",
        "  rankdir=LR;",
        "  node [shape=box, style=rounded];",
        "  producer [label="
        + _quote(
            f"producer: {loaded.producer_type}",
            f"x{producer['concurrency']}, decode {spec.producer.decode}",
        )
        + "];"
        if not loaded.named
        else "  producer [label="
        + _quote(
            *(
                f"producer {name}: {kind} x{section.concurrency}, decode {section.decode}"
                for name, kind, section in _producers(loaded)
            )
        )
        + "];",
    ]
    previous = "producer"
    limit = topology["rate_limit"]
    if limit is not None:
        label = _quote("rate limiter", f"{limit['allowed_messages']} per {limit['interval']}s")
        out.append(f"  rate_limiter [label={label}, shape=diamond];")
        out.append(f"  {previous} -> rate_limiter;")
        previous = "rate_limiter"
    partition = processors["partition_by"]
    label = _quote(
        "processors",
        f"x{processors['concurrency']}, max_demand {processors['max_demand']}",
        *([f"partition_by {partition}"] if partition else []),
    )
    out.append(f"  processors [label={label}];")
    out.append(f"  {previous} -> processors;")
    for index, batcher in enumerate(topology["batchers"]):
        node = f"batcher_{index}"
        label = _quote(
            f"batcher: {batcher['name']}",
            f"size {batcher['batch_size']}, timeout {batcher['batch_timeout']}s",
        )
        out.append(f"  {node} [label={label}];")
        out.append(f"  processors -> {node} [label={_quote(batcher['name'])}];")
        workers = _quote("batch processors", f"x{batcher['concurrency']}")
        out.append(f"  {node}_processors [label={workers}];")
        out.append(f"  {node} -> {node}_processors;")
    out.append("}")
    return "\n".join(out) + "\n"
