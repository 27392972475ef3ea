"""``broadway-py`` in a subprocess: exit codes, no tracebacks, finishing and draining.

(The /metrics and /readyz checks of a running service are in test_metrics_subprocess.py
and test_http.py.)
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.support import wait_until

ROOT = Path(__file__).resolve().parents[2]
DRAIN_TIMEOUT = 10.0
ENV = {k: v for k, v in os.environ.items() if k != "PORT"}

HANDLER = """
import asyncio

from broadway_py import Handler


class Slow(Handler):
    async def handle_message(self, message):
        await asyncio.sleep(0.05)  # sleep-ok: simulated work in a slow handler
        return message.put_batcher("db")

    def handle_batch(self, batcher, messages, info):
        return messages


def handle(message):
    return message
"""


class Run:
    """A ``python -m broadway_py`` process with its stderr in a file."""

    def __init__(self, process: asyncio.subprocess.Process, log: Path) -> None:
        self.process = process
        self.log = log

    def err(self) -> str:
        return self.log.read_text(errors="replace")


async def start(folder: Path, *arguments: str) -> Run:
    log = folder / f"stderr-{time.monotonic_ns()}.log"
    with log.open("wb") as sink:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "broadway_py",
            *arguments,
            cwd=folder,
            stdout=asyncio.subprocess.PIPE,
            stderr=sink,
            env={**ENV, "PYTHONUNBUFFERED": "1"},
        )
    return Run(process, log)


async def finish(run: Run, timeout: float = 60) -> tuple[int, str, str]:
    out, _ = await asyncio.wait_for(run.process.communicate(), timeout)
    assert run.process.returncode is not None
    return run.process.returncode, out.decode(), run.err()


def in_flight(run: Run) -> int:
    """Messages in flight in the last progress line (JSON logs); 0 before the first."""
    records = [json.loads(line) for line in run.err().splitlines() if line.startswith("{")]
    progress = [r for r in records if r["message"].startswith("progress:")]
    return int(progress[-1]["in_flight"]) if progress else 0


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "cli_test_handlers.py").write_text(textwrap.dedent(HANDLER))
    return tmp_path


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip())
    return path


async def test_config_errors_exit_78_without_a_traceback(folder: Path) -> None:
    write(
        folder,
        "bad.yaml",
        """
        name: bad
        handler: cli_test_handlers:missing
        producer:
          generator: {count: ten}
        processors:
          workers: 2
        http:
          port: ${PORT}
        """,
    )
    expected = [
        "bad.yaml:2:10: handler: 'cli_test_handlers' has no attribute 'missing'",
        "bad.yaml:4:22: producer.generator.count: should be a valid integer, unable to parse "
        "string as an integer, not 'ten'",
        "bad.yaml:6:3: processors: unknown key 'workers' (expected one of: concurrency, "
        "max_demand, min_demand, partition_by, executor, timeout)",
        "bad.yaml:8:9: http.port: environment variable PORT is not set (give it a default "
        "with ${PORT:default})",
    ]
    for command in ("run", "validate", "echo", "graph"):
        code, out, err = await finish(await start(folder, command, "bad.yaml"))
        assert (command, code) == (command, 78)
        assert out == ""
        assert err.splitlines() == expected, command
        assert "Traceback" not in err


async def test_syntax_error_and_missing_file(folder: Path) -> None:
    write(folder, "syntax.yaml", "name: x\nproducer: [a\n")
    code, out, err = await finish(await start(folder, "validate", "syntax.yaml", "none.yaml"))
    assert (code, out) == (78, "")
    assert err.splitlines() == [
        "syntax.yaml:3:1: YAML syntax error: expected ',' or ']', but got '<stream end>' "
        "(while parsing a flow sequence at line 2)",
        "none.yaml: no such file",
    ]
    assert "Traceback" not in err


async def test_no_command_prints_a_secret(folder: Path) -> None:
    write(
        folder,
        "secret.yaml",
        """
        name: secret
        handler: cli_test_handlers:handle
        producer:
          kafka:
            bootstrap_servers: 127.0.0.1:9092
            topics: [orders]
            group_id: secret
            sasl: {username: svc, password: FILE-PASSWORD-1}
            ssl: {password: FILE-PASSWORD-2}
        """,
    )
    for command in ("validate", "echo", "graph"):
        code, out, err = await finish(await start(folder, command, "secret.yaml"))
        assert (command, code) == (command, 0), err
        assert "PASSWORD" not in out + err
    sets = [
        "producer.kafka.sasl.pasword=SET-PASSWORD-3",
        "producer.rabbitmq.url=amqp://svc:SET-PASSWORD-4@rabbit/",
        "producer.kafka.ssl.password=[SET-PASSWORD-5]",
        "producer.kafka.sasl.password",  # no '=': the argument itself could be the secret
    ]
    for command in ("run", "validate", "echo", "graph"):
        arguments = [part for text in sets for part in ("--set", text)]
        code, out, err = await finish(await start(folder, command, "secret.yaml", *arguments))
        assert (command, code, out) == (command, 78, "")
        assert err.splitlines() == [
            "--set: expected KEY.PATH=VALUE, e.g. --set processors.concurrency=8"
        ]
        code, out, err = await finish(await start(folder, command, "secret.yaml", *arguments[:-2]))
        assert (command, code, out) == (command, 78, "")
        assert "PASSWORD" not in err
        assert "Traceback" not in err
        assert all(line.startswith("--set producer.") for line in err.splitlines()), err
    code, out, err = await finish(
        await start(folder, "validate", "secret.yaml", "--sett", "x.password=SET-PASSWORD-6")
    )
    assert code == 2
    assert "PASSWORD" not in out + err


async def test_validate_the_examples(folder: Path) -> None:
    examples = sorted(str(p) for p in (ROOT / "config").glob("*.yaml"))
    code, out, err = await finish(await start(folder, "validate", *examples))
    assert (code, err) == (0, "")
    assert len(out.splitlines()) == len(examples)
    assert all(line.split(": ok (")[0] in examples for line in out.splitlines())


async def test_run_a_finite_pipeline_to_the_end(folder: Path) -> None:
    write(
        folder,
        "finite.yaml",
        """
        name: finite
        handler: cli_test_handlers:handle
        producer:
          generator: {count: 5000}
        http: {port: 0}
        """,
    )
    run = await start(
        folder, "run", "finite.yaml", "--progress", "30", "--set", "processors.concurrency=2"
    )
    code, _, err = await finish(run)
    assert code == 0, err
    assert "received 5000, acked ok 5000 / retried 0 / dead-lettered 0 / discarded 0" in err
    assert "starting pipeline 'finite' (generator producer, 2 processors, batchers: none)" in err


async def test_sigterm_drains_in_flight_messages_and_exits_0(folder: Path) -> None:
    write(
        folder,
        "endless.yaml",
        f"""
        name: endless
        handler: cli_test_handlers:Slow
        producer:
          generator: {{rate: 400}}
        processors: {{concurrency: 4, max_demand: 5}}
        batchers:
          db: {{batch_size: 1000, batch_timeout: 60}}
        shutdown: {{drain_timeout: {DRAIN_TIMEOUT}}}
        http: {{port: 0}}
        logging: {{format: json}}
        """,
    )
    run = await start(folder, "run", "endless.yaml", "--progress", "0.2")
    try:
        # Running, with messages in flight in the processors and in the open batch.
        await wait_until(lambda: in_flight(run) > 0, 30, "a progress line with messages in flight")
        signalled = time.monotonic()
        run.process.send_signal(signal.SIGTERM)
        code, _, err = await finish(run, DRAIN_TIMEOUT + 20)
    finally:
        if run.process.returncode is None:
            run.process.kill()
            await run.process.wait()
    elapsed = time.monotonic() - signalled
    assert code == 0, err
    assert elapsed < DRAIN_TIMEOUT
    assert "received SIGTERM: draining" in err
    final = json.loads(err.splitlines()[-1])
    assert final["message"].startswith("finished in ")
    assert final["received"] == final["ok"] > 0
    assert final["in_flight"] == 0


async def test_a_port_in_use_exits_1_with_one_line(folder: Path) -> None:
    write(
        folder,
        "port.yaml",
        """
        name: port
        handler: cli_test_handlers:handle
        producer:
          generator: {count: 1}
        """,
    )
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = await finish(
            await start(folder, "run", "port.yaml", "--http-port", str(port))
        )
    assert code == 1
    assert "Traceback" not in err
    assert err.splitlines()[-1].startswith(
        f"broadway-py: pipeline 'port' could not run: cannot listen on 127.0.0.1:{port}"
    )


async def test_python_dash_m_does_not_let_the_working_directory_shadow_a_package(
    folder: Path,
) -> None:
    # `python -m` puts the working directory first on sys.path; __main__ takes it off.
    (folder / "aiohttp.py").write_text('raise RuntimeError("the shadowing aiohttp.py ran")\n')
    write(
        folder,
        "shadow.yaml",
        """
        name: shadow
        handler: cli_test_handlers:handle
        producer:
          generator: {count: 100}
        http: {port: 0}
        """,
    )
    run = await start(folder, "run", "shadow.yaml")
    code, _, err = await finish(run)
    assert code == 0, err
    assert "shadowing" not in err
    assert "pipeline 'shadow' stopped" in err


GC_PROBE = """
import atexit
import gc
from pathlib import Path

# What the collector had frozen by the end: the service's policy at work.
atexit.register(lambda: Path("frozen.txt").write_text(str(gc.get_freeze_count())))


def handle(message):
    return message
"""


@pytest.mark.parametrize(
    ("arguments", "env", "frozen"),
    [((), {}, True), (("--gc", "default"), {}, False), ((), {"BROADWAY_GC": "default"}, False)],
)
async def test_run_freezes_what_startup_made_unless_told_not_to(
    folder: Path, arguments: tuple[str, ...], env: dict[str, str], frozen: bool
) -> None:
    write(folder, "gc_probe.py", GC_PROBE)
    write(
        folder,
        "gc.yaml",
        """
        name: gc
        handler: gc_probe:handle
        producer:
          generator: {count: 2000}
        http: {port: 0}
        """,
    )
    ENV.update(env)
    try:
        code, _, err = await finish(await start(folder, "run", "gc.yaml", *arguments))
    finally:
        for name in env:
            ENV.pop(name)
    assert code == 0, err
    assert (int((folder / "frozen.txt").read_text()) > 0) is frozen


async def test_an_unknown_gc_policy_is_a_config_error(folder: Path) -> None:
    write(folder, "gc.yaml", "name: gc\nhandler: cli_test_handlers:handle\n")
    ENV["BROADWAY_GC"] = "off"
    try:
        code, _, err = await finish(await start(folder, "run", "gc.yaml"))
    finally:
        ENV.pop("BROADWAY_GC")
    assert code == 78
    assert err.strip() == "broadway-py: BROADWAY_GC must be one of freeze, default, not 'off'"


LOOP_PROBE = """
import asyncio
from pathlib import Path


def handle(message):
    Path("loop.txt").write_text(type(asyncio.get_running_loop()).__module__)
    return message
"""


@pytest.mark.parametrize(("choice", "module"), [("asyncio", "asyncio"), ("uvloop", "uvloop")])
async def test_run_on_the_loop_asked_for(folder: Path, choice: str, module: str) -> None:
    pytest.importorskip(module)
    write(folder, "loop_probe.py", LOOP_PROBE)
    write(
        folder,
        "loop.yaml",
        """
        name: loop
        handler: loop_probe:handle
        producer:
          generator: {count: 10}
        processors: {concurrency: 1}
        http: {port: 0}
        """,
    )
    code, _, err = await finish(await start(folder, "run", "loop.yaml", "--loop", choice))
    assert code == 0, err
    assert (folder / "loop.txt").read_text().startswith(module)
