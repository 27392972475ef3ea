"""The ``broadway-py`` command. Parses arguments and calls the library; no logic.

Exit codes: 0 done (a drain completed, or a finite pipeline finished);
1 the pipeline failed or could not start; 2 bad command-line usage;
78 a config problem in a pipeline file or a ``--set`` (printed as
``file:line:col: message`` lines). Nothing that goes wrong while a pipeline
file is loaded prints a traceback: an unexpected fault there is one line and
exit 78 too.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import re
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn, TextIO

import broadway_py
from broadway_py.config import (
    BadOverride,
    ConfigFileError,
    LoadedConfig,
    Override,
    echo_yaml,
    graph_dot,
    graph_text,
    load_pipeline,
    parse_set,
)
from broadway_py.config.redact import redact_url
from broadway_py.config.secret_text import SecretMasker
from broadway_py.config.secret_values import config_secrets, environment_secrets
from broadway_py.errors import BroadwayError, PipelineFailed
from broadway_py.pipeline import Pipeline
from broadway_py.service.gc_policy import ENV as GC_ENV
from broadway_py.service.gc_policy import POLICIES, default_policy
from broadway_py.service.logs import configure_logging

EX_OK = 0
EX_FAILED = 1
EX_USAGE = 2
EX_CONFIG = 78

_EPILOG = """\
examples:
  broadway-py run config/demo.yaml --progress 1
  broadway-py run pipeline.yaml --http-port 9400 --set processors.concurrency=8
  broadway-py validate config/*.yaml
  broadway-py echo pipeline.yaml --set logging.level=debug
  broadway-py graph --dot pipeline.yaml | dot -Tsvg > pipeline.svg

exit codes: 0 ok, 1 the pipeline failed, 2 usage, 78 config error.
docs: docs/cli.md and docs/configuration.md
"""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error never echoes a ``KEY=VALUE`` value or a URL password.

    (``--sett producer.kafka.sasl.password=...`` is an unrecognized argument.)
    """

    def error(self, message: str) -> NoReturn:
        head, found, rest = message.partition(_UNRECOGNIZED)
        if found:  # a stray value may be a password: name only the options
            rest = " ".join(word if word.startswith("-") else "..." for word in rest.split())
            message = f"{head}{found}{rest}"
        super().error(redact_url(_ASSIGNMENT.sub(r"\g<key>=...", message)))


_UNRECOGNIZED = "unrecognized arguments: "
_ASSIGNMENT = re.compile(r"(?P<key>[\w.\-]+)=[^\s,']+")


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0..65535, not {value}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number above 0, not {text}")
    return value


def _add_set(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY.PATH=VALUE",
        help="override a config value, e.g. --set processors.concurrency=8 "
        "(repeatable; the value is read as YAML: 8, true, null, [a, b])",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="broadway-py",
        description="Run and inspect broadway_py pipelines described by YAML files.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="run a pipeline until it finishes or receives SIGTERM / SIGINT",
        description="Run the pipeline FILE describes. The HTTP port (/metrics, /healthz, "
        "/readyz, /status) starts first; SIGTERM or SIGINT drains the pipeline "
        "(bounded by shutdown.drain_timeout) and exits 0.",
    )
    run.add_argument("file", metavar="FILE", help="the pipeline file (YAML)")
    run.add_argument(
        "--http-port", type=_port, metavar="N", help="listen on port N (overrides http.port)"
    )
    run.add_argument(
        "--gc",
        choices=POLICIES,
        default=None,
        help="the garbage-collector policy: 'freeze' (default; BROADWAY_GC sets another) "
        "freezes what startup made, once the pipeline runs; 'default' leaves Python's",
    )
    run.add_argument(
        "--progress",
        type=_seconds,
        metavar="SECONDS",
        help="log a progress line every SECONDS (overrides logging.progress_interval)",
    )
    _add_set(run)

    validate = commands.add_parser(
        "validate",
        help="check pipeline files without running them",
        description="Check each FILE: YAML, schema, environment variables, handler imports "
        "and the topology. Prints 'FILE: ok' per valid file; exits 78 if any is not.",
    )
    validate.add_argument("files", metavar="FILE", nargs="+", help="pipeline files")
    _add_set(validate)

    echo = commands.add_parser(
        "echo",
        help="print the resolved config (secrets redacted)",
        description="Print FILE as the pipeline will see it: variables interpolated, "
        "overrides applied, defaults filled in, secrets redacted.",
    )
    echo.add_argument("file", metavar="FILE", help="the pipeline file (YAML)")
    _add_set(echo)

    graph = commands.add_parser(
        "graph",
        help="print the topology (text, or Graphviz DOT with --dot)",
        description="Print the stages of the pipeline FILE describes.",
    )
    graph.add_argument("file", metavar="FILE", help="the pipeline file (YAML)")
    graph.add_argument("--dot", action="store_true", help="print Graphviz DOT")
    _add_set(graph)

    commands.add_parser("version", help="print the version", description="Print the version.")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    arguments = parser.parse_args(argv)
    command = arguments.command
    if command is None:
        parser.print_help(sys.stderr)
        return EX_USAGE
    if command == "version":
        print(f"broadway-py {broadway_py.__version__} (Python {platform.python_version()})")
        return EX_OK
    overrides: list[Override] = []
    bad = False
    for text in arguments.sets:
        try:
            overrides.append(parse_set(text))
        except BadOverride as error:
            print(error, file=sys.stderr)
            bad = True
    if bad:
        return EX_CONFIG
    if command == "run":
        if arguments.http_port is not None:
            port = arguments.http_port
            overrides.append(Override(("http", "port"), port, f"--http-port {port}"))
        if arguments.progress is not None:
            overrides.append(
                Override(
                    ("logging", "progress_interval"),
                    arguments.progress,
                    f"--progress {arguments.progress:g}",
                )
            )
        gc_policy = arguments.gc or default_policy()
        if gc_policy not in POLICIES:
            print(
                f"broadway-py: {GC_ENV} must be one of {', '.join(POLICIES)}, "
                f"not {gc_policy[:40]!r}",
                file=sys.stderr,
            )
            return EX_CONFIG
        return _run(arguments.file, overrides, gc_policy)
    if command == "validate":
        return _validate(arguments.files, overrides)
    if command == "echo":
        return _show(arguments.file, overrides, lambda loaded, _: echo_yaml(loaded))
    if command == "graph":
        render = graph_dot if arguments.dot else graph_text
        return _show(arguments.file, overrides, render)
    parser.error(f"unknown command {command!r}")


def _print_problems(error: ConfigFileError, stream: TextIO | None = None) -> None:
    out = stream or sys.stderr
    for problem in error.problems:
        print(problem, file=out)


def _load(file: str, overrides: list[Override]) -> tuple[LoadedConfig, Pipeline] | None:
    """The loaded pipeline, or None after its problems were printed (exit 78)."""
    try:
        return load_pipeline(file, overrides)
    except ConfigFileError as error:
        _print_problems(error)
    except RecursionError:
        print(f"{file}: the pipeline file is nested too deeply to load", file=sys.stderr)
    except MemoryError:
        print(f"{file}: out of memory while loading the pipeline file", file=sys.stderr)
    except Exception as error:  # a fault while loading: one line, no traceback
        detail = redact_url(str(error))[:200]
        print(
            f"{file}: cannot load the pipeline file: {type(error).__name__}: {detail}",
            file=sys.stderr,
        )
    return None


def _run(file: str, overrides: list[Override], gc_policy: str) -> int:
    found = _load(file, overrides)
    if found is None:
        return EX_CONFIG
    loaded, pipeline = found
    from broadway_py.service.run import run_service  # loads aiohttp: only to run

    settings = loaded.spec.logging
    configure_logging(settings.level, settings.format, settings.payloads, settings.loggers)
    try:
        asyncio.run(run_service(loaded, pipeline, gc_policy))
    except PipelineFailed as error:
        print(
            f"broadway-py: pipeline {pipeline.name!r} failed: {_masked(loaded, error)}",
            file=sys.stderr,
        )
        return EX_FAILED
    except BroadwayError as error:
        print(
            f"broadway-py: pipeline {pipeline.name!r} could not run: {_masked(loaded, error)}",
            file=sys.stderr,
        )
        return EX_FAILED
    except KeyboardInterrupt:
        return 128 + 2
    return EX_OK


def _masked(loaded: LoadedConfig, error: BaseException) -> str:
    """An error's text with every secret of the config and the environment masked."""
    masker = SecretMasker(config_secrets(loaded) | environment_secrets(os.environ))
    return masker.mask(str(error))


def _validate(files: Sequence[str], overrides: list[Override]) -> int:
    status = EX_OK
    for file in files:
        found = _load(file, overrides)
        if found is None:
            status = EX_CONFIG
            continue
        loaded = found[0]
        spec = loaded.spec
        print(
            f"{file}: ok (pipeline {spec.name!r}: {loaded.producer_type} producer, "
            f"{_count(spec.processors.concurrency, 'processor')}, "
            f"{_count(len(spec.batchers), 'batcher')})"
        )
    return status


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _show(
    file: str, overrides: list[Override], render: Callable[[LoadedConfig, Pipeline], str]
) -> int:
    found = _load(file, overrides)
    if found is None:
        return EX_CONFIG
    sys.stdout.write(render(*found))
    return EX_OK
