"""The CLI in-process: help, version, echo, graph, validate, and run's exit codes."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from broadway_py import __version__
from broadway_py.cli import EX_CONFIG, main
from broadway_py.connectors import registry
from broadway_py.connectors.registry import ConnectorSpec
from broadway_py.errors import BroadwayError
from tests.unit.config.conftest import Workspace

PIPELINE = """
name: cli
handler: {h}:Orders
producer:
  generator: {count: 20}
batchers:
  db: {batch_size: 5}
http: {enabled: false}
"""


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


@pytest.mark.parametrize("command", ["run", "validate", "echo", "graph", "version"])
def test_help_of_each_command(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main([command, "--help"])
    assert caught.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: broadway-py {command}")


def test_help_and_no_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in ("run", "validate", "echo", "graph", "version"):
        assert f"    {command}" in out
    assert main([]) == 2


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["version"]) == 0
    assert capsys.readouterr().out.startswith(f"broadway-py {__version__} (Python 3.")


def test_bad_set_is_a_config_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["echo", "x.yaml", "--set", "processors.concurrency"]) == 78
    assert "--set: expected KEY.PATH=VALUE" in capsys.readouterr().err


def test_echo_and_graph(workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    path = workspace.file(PIPELINE)
    assert main(["echo", str(path), "--set", "processors.concurrency=9"]) == 0
    out = capsys.readouterr().out
    assert "  concurrency: 9\n" in out
    assert main(["graph", str(path)]) == 0
    assert capsys.readouterr().out.startswith("pipeline cli\n  producer generator x1")
    assert main(["graph", "--dot", str(path)]) == 0
    assert capsys.readouterr().out.startswith('digraph "cli" {')


def test_validate_reports_every_file(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    good = workspace.file(PIPELINE, "good.yaml")
    bad = workspace.file(PIPELINE.replace("count: 20", "count: -1"), "bad.yaml")
    assert main(["validate", str(good), str(bad)]) == EX_CONFIG
    captured = capsys.readouterr()
    assert captured.out == (
        f"{good}: ok (pipeline 'cli': generator producer, 4 processors, 1 batcher)\n"
    )
    assert captured.err == (
        f"{bad}:4:22: producer.generator.count: should be greater than or equal to 0, not -1\n"
    )


def test_run_finishes_a_finite_pipeline(
    workspace: Workspace, capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    path = workspace.file(PIPELINE)
    assert main(["run", str(path), "--progress", "60"]) == 0
    err = capsys.readouterr().err
    assert "received 20, acked ok 20 / retried 0 / dead-lettered 0 / discarded 0" in err


@pytest.fixture
def fake_kafka(monkeypatch: pytest.MonkeyPatch) -> None:
    """``kafka:`` in a pipeline file means the stand-in connector (tests/unit/config)."""
    monkeypatch.setitem(
        registry.CONNECTORS,
        "kafka",
        ConnectorSpec("kafka", "tests.unit.config.fake_connector", "aiokafka", "kafka"),
    )


def test_run_exits_1_with_one_line_when_the_pipeline_fails(
    workspace: Workspace,
    capsys: pytest.CaptureFixture[str],
    fake_kafka: None,
    restore_logging: None,
) -> None:
    path = workspace.file(
        """
        name: broken
        handler: {h}:handle
        producer:
          kafka: {url: "kafka://x", crash: true}
        supervisor: {max_restarts: 0}
        http: {enabled: false}
        logging: {level: CRITICAL}
        """
    )
    assert main(["run", str(path)]) == 1
    err = capsys.readouterr().err
    assert err == (
        "broadway-py: pipeline 'broken' failed: stage producer_0 crashed: ConnectionError: "
        "injected producer crash; more than 0 restarts within 5.0s, giving up\n"
    )


@pytest.mark.parametrize(
    "fault", [RuntimeError("amqp://u:FAULT-PASSWORD@h/ broke"), RecursionError()]
)
def test_an_unexpected_fault_while_loading_is_one_line_and_exit_78(
    fault: Exception,
    workspace: Workspace,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = workspace.file(PIPELINE)

    def broken(*_: object) -> None:
        raise fault

    monkeypatch.setattr("broadway_py.cli.load_pipeline", broken)
    for command in ("run", "validate", "echo", "graph"):
        assert main([command, str(path)]) == EX_CONFIG
        err = capsys.readouterr().err
        assert len(err.splitlines()) == 1
        assert err.startswith(f"{path}: ")
        assert "Traceback" not in err
        assert "FAULT-PASSWORD" not in err


@pytest.mark.parametrize("seconds", ["inf", "nan", "0", "-1"])
def test_progress_must_be_a_finite_number_above_0(
    seconds: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["run", "x.yaml", "--progress", seconds])
    assert caught.value.code == 2
    assert "must be a finite number above 0" in capsys.readouterr().err


def test_a_usage_error_does_not_echo_values(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["validate", "x.yaml", "--sett", "a.password=USAGE-PASSWORD", "stray-secret"])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert "unrecognized arguments: --sett ... ..." in err
    assert "USAGE-PASSWORD" not in err
    assert "stray-secret" not in err


def test_a_run_error_is_printed_with_every_config_and_environment_secret_masked(
    workspace: Workspace,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    fake_kafka: None,
    restore_logging: None,
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "ENV-SECRET-VALUE")
    path = workspace.file(
        """
        name: leaky
        handler: {h}:handle
        producer:
          kafka: {url: "kafka://x", password: "FILE-SECRET-VALUE"}
        http: {enabled: false}
        logging: {level: CRITICAL}
        """
    )

    async def refuse(*_: object) -> None:
        # A client library quoting what it was given, bare, in its error.
        raise BroadwayError("broker refused FILE-SECRET-VALUE and ENV-SECRET-VALUE")

    monkeypatch.setattr("broadway_py.service.run.run_service", refuse)
    assert main(["run", str(path)]) == 1
    err = capsys.readouterr().err
    assert "could not run: broker refused" in err
    assert "FILE-SECRET-VALUE" not in err
    assert "ENV-SECRET-VALUE" not in err
