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
import logging
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
from broadway_py.service.event_loop import CHOICES as LOOP_CHOICES
from broadway_py.service.event_loop import DEFAULT as DEFAULT_LOOP
from broadway_py.service.event_loop import loop_name
from broadway_py.service.event_loop import run as run_on_loop
from broadway_py.service.gc_policy import ENV as GC_ENV
from broadway_py.service.gc_policy import POLICIES, default_policy
from broadway_py.service.logs import configure_logging
from broadway_py.service.producer_choice import (
    add_producer_argument,
    choose_producer,
    every_producer,
)
from broadway_py.service.worker_role import (
    INDEX_FLAG,
    WORKER_HOST,
    WorkerRole,
    die_with_parent,
)

WORKERS_ENV = "BROADWAY_WORKERS"
"""How many worker processes ``run`` starts, unless --workers says (see docs/cli.md)."""

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


def _workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of workers: {text!r}") from None
    if not value >= 1:
        raise argparse.ArgumentTypeError(f"at least 1 worker, not {value}")
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
        "--loop",
        choices=LOOP_CHOICES,
        default=DEFAULT_LOOP,
        help="the event loop: 'auto' (default: uvloop when installed, the 'fast' extra), "
        "'asyncio' or 'uvloop'",
    )
    run.add_argument(
        "--progress",
        type=_seconds,
        metavar="SECONDS",
        help="log a progress line every SECONDS (overrides logging.progress_interval)",
    )
    run.add_argument(
        "--workers",
        type=_workers,
        metavar="N",
        help=f"run the pipeline in N worker processes behind one HTTP port (overrides "
        f"{WORKERS_ENV}, which overrides workers in FILE)",
    )
    run.add_argument(INDEX_FLAG, type=int, default=None, help=argparse.SUPPRESS)
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

    provision = commands.add_parser(
        "provision",
        help="create the topics / queues the pipeline reads and writes, when missing",
        description="Create what the pipeline FILE reads and writes on its broker (each "
        "producer's, with producers:) when it is "
        "missing (Kafka topics; SQS queues and redrive policy; RabbitMQ queues, exchanges, "
        "bindings, delay and dead-letter queues). Prints one line per thing: created, "
        "already there, or MISMATCH (left unchanged; exit 1).",
    )
    provision.add_argument("file", metavar="FILE", help="the pipeline file (YAML)")
    _add_set(provision)

    send = commands.add_parser(
        "send",
        help="publish standard input to the pipeline's source, one message per line",
        description="Publish each line of standard input to the source of the pipeline FILE "
        "(its first Kafka topic, its SQS queue, its RabbitMQ queue) and print how many were "
        "sent and confirmed. Each line is a JSON value, sent as its JSON text, unless --raw.",
    )
    send.add_argument("file", metavar="FILE", help="the pipeline file (YAML)")
    send.add_argument(
        "--raw", action="store_true", help="send each line as it is (without its newline)"
    )
    send.add_argument(
        "--key",
        metavar="KEY",
        help="Kafka: the record key; SQS: the message group of a FIFO queue; RabbitMQ: the "
        "routing key, on the exchange of the queue's first binding",
    )
    add_producer_argument(send, "send to")
    send.add_argument(
        "--header",
        dest="headers",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a header (Kafka header, SQS message attribute, AMQP header); repeatable",
    )
    _add_set(send)

    from broadway_py.service.dlq import add_parser as add_dlq_parser

    add_dlq_parser(commands)

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
        worker = arguments.worker_index
        overrides.extend(
            _worker_overrides() if worker is not None else _workers_override(arguments.workers)
        )
        try:
            loop_name(arguments.loop)
        except BroadwayError as error:
            print(f"broadway-py: {error}", file=sys.stderr)
            return EX_CONFIG
        command = _worker_command(arguments, gc_policy)
        return _run(arguments.file, overrides, (gc_policy, arguments.loop), worker, command)
    if command == "provision":
        return _provision(arguments.file, overrides)
    if command == "send":
        return _send(arguments, overrides)
    if command == "dlq":
        return _dlq(arguments, overrides)
    if command == "validate":
        return _validate(arguments.files, overrides)
    if command == "echo":
        return _show(arguments.file, overrides, lambda loaded, _: echo_yaml(loaded))
    if command == "graph":
        render = graph_dot if arguments.dot else graph_text
        return _show(arguments.file, overrides, render)
    parser.error(f"unknown command {command!r}")


def _dlq(arguments: argparse.Namespace, overrides: list[Override]) -> int:
    """``dlq FILE ACTION``: purge asks first on a terminal and needs --yes elsewhere."""
    from broadway_py.service import dlq

    if arguments.action == "purge" and not arguments.yes and not sys.stdin.isatty():
        print(
            "broadway-py dlq: purge removes every dead letter; stdin is not a terminal, "
            "so pass --yes to confirm",
            file=sys.stderr,
        )
        return EX_USAGE
    found = _load(arguments.file, overrides)
    if found is None:
        return EX_CONFIG
    loaded = found[0]
    settings = loaded.spec.logging
    configure_logging(settings.level, settings.format, settings.payloads, settings.loggers)
    request = dlq.Request.from_arguments(arguments)
    try:
        chosen = choose_producer(loaded, arguments.producer)
        store = dlq.open_store(chosen.connector.name, chosen.options)
        if arguments.action == "purge" and not arguments.yes:
            answer = input(f"purge every dead letter in {store.destination}? [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                print("broadway-py dlq: not purged", file=sys.stderr)
                return EX_FAILED
        return asyncio.run(dlq.execute(store, request, sys.stdout))
    except BroadwayError as error:
        print(f"broadway-py dlq: {_masked(loaded, error)}", file=sys.stderr)
        return EX_FAILED
    except (EOFError, KeyboardInterrupt):
        return 128 + 2


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


def _workers_override(flag: int | None) -> list[Override]:
    """``workers`` from --workers, else from BROADWAY_WORKERS, else the file says it."""
    if flag is not None:
        return [Override(("workers",), flag, f"--workers {flag}")]
    text = os.environ.get(WORKERS_ENV, "").strip()
    if not text:
        return []
    value = int(text) if text.isdigit() else text  # not a number: the schema says so
    return [Override(("workers",), value, f"{WORKERS_ENV}={text[:20]}")]


def _worker_overrides() -> list[Override]:
    """A worker is one process, serving HTTP on a free local port for its parent."""
    source = INDEX_FLAG
    return [
        Override(("workers",), 1, source),
        Override(("http", "host"), WORKER_HOST, source),
        Override(("http", "port"), 0, source),
    ]


def _worker_command(arguments: argparse.Namespace, gc_policy: str) -> Callable[[int], list[str]]:
    """The command line of worker I: this ``run``'s file, --set, --progress, --gc and --loop."""
    shared = [arguments.file, "--gc", gc_policy, "--loop", arguments.loop]
    for text in arguments.sets:
        shared += ["--set", text]
    if arguments.progress is not None:
        shared += ["--progress", repr(arguments.progress)]
    return lambda index: [
        sys.executable,
        "-m",
        "broadway_py",
        "run",
        *shared,
        INDEX_FLAG,
        str(index),
    ]


def _run(
    file: str,
    overrides: list[Override],
    policies: tuple[str, str],
    worker: int | None = None,
    command: Callable[[int], list[str]] | None = None,
) -> int:
    """Run FILE; ``policies``: the --gc policy and the --loop choice."""
    gc_policy, loop = policies
    if worker is not None:
        die_with_parent()
    found = _load(file, overrides)
    if found is None:
        return EX_CONFIG
    loaded, pipeline = found
    from broadway_py.service.run import run_service  # loads aiohttp: only to run
    from broadway_py.service.workers import run_workers

    settings = loaded.spec.logging
    handler = configure_logging(
        settings.level, settings.format, settings.payloads, settings.loggers
    )
    if worker is None and not _provision_at_start(loaded):
        return EX_FAILED
    role = None if worker is None else WorkerRole.from_environment(worker)
    if role is not None:
        role.tag_logs(handler, settings.format)
    try:
        if role is None and loaded.spec.workers > 1 and command is not None:
            run_on_loop(run_workers(loaded, command), loop)
        else:
            run_on_loop(run_service(loaded, pipeline, gc_policy, role), loop)
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


def _provision(file: str, overrides: list[Override]) -> int:
    found = _load(file, overrides)
    if found is None:
        return EX_CONFIG
    loaded = found[0]
    from broadway_py.service.provision import provision

    try:
        done = asyncio.run(provision(loaded, print))
    except BroadwayError as error:
        print(f"broadway-py: cannot provision: {_masked(loaded, error)}", file=sys.stderr)
        return EX_FAILED
    if done.mismatches:
        print(
            f"broadway-py: {len(done.mismatches)} mismatch"
            f"{'' if len(done.mismatches) == 1 else 'es'} (left unchanged)",
            file=sys.stderr,
        )
        return EX_FAILED
    return EX_OK


def _provision_at_start(loaded: LoadedConfig) -> bool:
    """``provision: true``: provision those producers before the start; False on failure."""
    from broadway_py.service.provision import provision

    asked = [producer for producer in every_producer(loaded) if producer.provision]
    if not asked:
        return True
    log = logging.getLogger("broadway_py.provision")
    try:
        done = asyncio.run(provision(loaded, log.info, asked))
    except BroadwayError as error:
        print(f"broadway-py: cannot provision: {_masked(loaded, error)}", file=sys.stderr)
        return False
    for mismatch in done.mismatches:
        print(f"broadway-py: provision: {mismatch}", file=sys.stderr)
    return not done.mismatches


def _send(arguments: argparse.Namespace, overrides: list[Override]) -> int:
    from broadway_py.service.send import BadInput, parse_headers, send_lines

    try:
        headers = parse_headers(arguments.headers)
    except BadInput as error:
        print(f"broadway-py send: {error}", file=sys.stderr)
        return EX_USAGE
    found = _load(arguments.file, overrides)
    if found is None:
        return EX_CONFIG
    loaded = found[0]
    try:
        sent = asyncio.run(
            send_lines(
                choose_producer(loaded, arguments.producer),
                sys.stdin.buffer,
                raw=arguments.raw,
                key=arguments.key,
                headers=headers,
            )
        )
    except BadInput as error:
        print(f"broadway-py send: {error}", file=sys.stderr)
        return EX_FAILED
    except BroadwayError as error:
        print(f"broadway-py send: {_masked(loaded, error)}", file=sys.stderr)
        return EX_FAILED
    print(sent)
    return EX_OK if sent.complete else EX_FAILED
