"""Pipelines from YAML files: schema, loader (``file:line:col`` errors), builder, service.

::

    from broadway_py.config import load_pipeline, ConfigFileError

    try:
        loaded, pipeline = load_pipeline("pipeline.yaml", [parse_set("processors.concurrency=8")])
    except ConfigFileError as error:
        print(error)            # one "file:line:col: message" line per problem
    else:
        await pipeline.run()

Running a built pipeline as a service (HTTP port, logs, progress lines) is
:mod:`broadway_py.service`'s work, not this package's.
See docs/configuration.md for the file format.
"""

from broadway_py.config.builder import build_pipeline, load_pipeline
from broadway_py.config.loader import LoadedConfig, References, load_config
from broadway_py.config.models import PipelineSpec
from broadway_py.config.overrides import BadOverride, Override, parse_set
from broadway_py.config.problems import ConfigFileError, Position, Problem
from broadway_py.config.render import echo_yaml, graph_dot, graph_text, resolved

__all__ = [
    "BadOverride",
    "ConfigFileError",
    "LoadedConfig",
    "Override",
    "PipelineSpec",
    "Position",
    "Problem",
    "References",
    "build_pipeline",
    "echo_yaml",
    "graph_dot",
    "graph_text",
    "load_config",
    "load_pipeline",
    "parse_set",
    "resolved",
]
