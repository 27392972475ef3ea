"""``${VAR}`` / ``${VAR:default}`` interpolation, and the typing of interpolated scalars."""

from __future__ import annotations

import pytest

from broadway_py.config import load_config
from broadway_py.config.interpolate import interpolate
from tests.unit.config.conftest import Workspace


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        ("plain", {}, "plain"),
        ("${A}", {"A": "x"}, "x"),
        ("pre-${A}-post", {"A": "x"}, "pre-x-post"),
        ("${A}${B}", {"A": "1", "B": "2"}, "12"),
        ("${A:fallback}", {}, "fallback"),
        ("${A:fallback}", {"A": ""}, "fallback"),
        ("${A:fallback}", {"A": "set"}, "set"),
        ("${A:}", {}, ""),
        ("${A:-shell}", {}, "shell"),
        ("${A:--1}", {}, "-1"),
        ("${A:-shell}", {"A": "set"}, "set"),
        ("${URL:amqp://guest:guest@localhost:5672/}", {}, "amqp://guest:guest@localhost:5672/"),
        ("cost: $5", {}, "cost: $5"),
        ("$${A}", {"A": "x"}, "${A}"),
        ("$$", {}, "$$"),
    ],
)
def test_interpolate(text: str, env: dict[str, str], expected: str) -> None:
    result = interpolate(text, env)
    assert result.problems == []
    assert result.text == expected


def test_unset_without_default_is_a_problem() -> None:
    result = interpolate("${A} and ${B}", {"B": "b"})
    assert result.problems == [
        "environment variable A is not set (give it a default with ${A:default})"
    ]
    assert result.text == " and b"


def test_empty_value_without_default_is_kept() -> None:
    assert interpolate("[${A}]", {"A": ""}).text == "[]"


def test_interpolated_unquoted_scalars_are_typed_quoted_ones_stay_text(
    workspace: Workspace,
) -> None:
    path = workspace.file(
        """
        name: ${NAME:orders}
        handler: {h}:Orders
        producer:
          memory:
            queue: "${QUEUE:007}"
          concurrency: ${PRODUCERS:2}
        processors:
          concurrency: ${WORKERS}
          min_demand: ${MIN_DEMAND:null}
        rate_limit:
          allowed_messages: ${RATE:100}
          interval: ${INTERVAL:0.5}
        http:
          admin: ${ADMIN:false}
          host: ${HOST:0.0.0.0}
        dead_letter:
          destination: ${DLQ:}
        """
    )
    loaded = load_config(path, env={"WORKERS": "8", "ADMIN": "true", "DLQ": ""})
    spec = loaded.spec
    assert spec.name == "orders"
    assert loaded.options.model_dump() == {"queue": "007"}
    assert spec.producer.concurrency == 2
    assert spec.processors.concurrency == 8
    assert spec.processors.min_demand is None
    assert spec.rate_limit is not None
    assert (spec.rate_limit.allowed_messages, spec.rate_limit.interval) == (100, 0.5)
    assert spec.http.admin is True
    assert spec.http.host == "0.0.0.0"
    # An empty unquoted value is YAML null: the destination stays unset.
    assert spec.dead_letter.destination is None


def test_keys_and_comments_are_not_interpolated(workspace: Workspace) -> None:
    path = workspace.file(
        """
        name: orders   # ${NOT_A_VARIABLE}
        handler: {h}:Orders
        producer:
          memory:
            queue: q
        batchers:
          ${BATCHER}: {}
        """
    )
    from broadway_py.config import ConfigFileError

    with pytest.raises(ConfigFileError) as caught:
        load_config(path, env={"BATCHER": "db"})
    (problem,) = caught.value.problems
    assert (problem.position.line, problem.position.column) == (7, 3)
    assert "a batcher name '${BATCHER}' may hold only" in problem.message
