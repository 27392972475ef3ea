"""``--set key.path=value`` overrides."""

from __future__ import annotations

import pytest

from broadway_py.config import BadOverride, ConfigFileError, load_config, parse_set
from broadway_py.config.overrides import Override
from tests.unit.config.conftest import Workspace

BASE = """
name: orders
handler: {h}:Orders
producer:
  memory:
    queue: orders
batchers:
  - name: db
    batch_size: 10
"""


@pytest.mark.parametrize(
    ("argument", "path", "value"),
    [
        ("processors.concurrency=8", ("processors", "concurrency"), 8),
        ("http.admin=true", ("http", "admin"), True),
        ("retry.min_delay=0.25", ("retry", "min_delay"), 0.25),
        ("producer.memory.queue=007", ("producer", "memory", "queue"), 7),
        ("producer.memory.queue='007'", ("producer", "memory", "queue"), "'007'"),
        ("name=a=b", ("name",), "a=b"),
        ("processors.min_demand=null", ("processors", "min_demand"), None),
        (
            "retry.never_retry=[ValueError, KeyError]",
            ("retry", "never_retry"),
            ["ValueError", "KeyError"],
        ),
        ("logging.loggers={aiokafka: warning}", ("logging", "loggers"), {"aiokafka": "warning"}),
        ("dead_letter.destination=", ("dead_letter", "destination"), None),
        ("name=2024-01-01", ("name",), "2024-01-01"),
    ],
)
def test_parse_set(argument: str, path: tuple[str, ...], value: object) -> None:
    key = argument.partition("=")[0]
    assert parse_set(argument) == Override(path, value, f"--set {key}=...")


@pytest.mark.parametrize(
    "argument", ["processors.concurrency", "=3", "a..b=1", "[1=2", "a b=1", "retry.never_retry=[1"]
)
def test_parse_set_rejects_malformed_arguments(argument: str) -> None:
    with pytest.raises(BadOverride):
        parse_set(argument)


def test_overrides_apply_in_order_and_make_missing_sections(workspace: Workspace) -> None:
    path = workspace.file(BASE)
    loaded = load_config(
        path,
        [
            parse_set("processors.concurrency=2"),
            parse_set("processors.concurrency=6"),
            parse_set("rate_limit.allowed_messages=50"),
            parse_set("batchers.db.batch_size=99"),
            parse_set("producer.memory.queue=other"),
        ],
        env={},
    )
    spec = loaded.spec
    assert spec.processors.concurrency == 6
    assert spec.rate_limit is not None
    assert spec.rate_limit.allowed_messages == 50
    assert spec.batchers["db"].batch_size == 99
    assert loaded.options.model_dump() == {"queue": "other"}


def test_problems_in_overridden_values_name_the_argument(workspace: Workspace) -> None:
    path = workspace.file(BASE)
    with pytest.raises(ConfigFileError) as caught:
        load_config(
            path,
            [
                parse_set("processors.concurrency=many"),
                parse_set("name.first=x"),
                parse_set("rate_limit.interval=2"),
                parse_set("processors.colour=red"),
            ],
            env={},
        )
    assert [str(p) for p in caught.value.problems] == [
        "--set name.first=...: cannot set name.first: name is not a mapping",
        "--set processors.colour=...: processors: unknown key 'colour' (expected one of: "
        "concurrency, max_demand, min_demand, partition_by, executor, timeout)",
        "--set processors.concurrency=...: processors.concurrency: should be a valid "
        "integer, unable to parse string as an integer, not 'many'",
        "--set rate_limit.interval=...: rate_limit: missing required key 'allowed_messages'",
    ]
