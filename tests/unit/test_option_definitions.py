"""Each option is defined once: the file's schema, the core objects and the docs agree.

The walk below goes over every option of every section made from a core option
object and checks that the pydantic model (validation), the core dataclass
(building, the Python API) and docs/configuration.md (the tables) say the same
name, default and bounds. Adding an option to a core option object is the one
edit; this test then fails only if the docs were not regenerated.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import annotated_types
import pytest
from pydantic import BaseModel, ValidationError

from broadway_py.config import models
from broadway_py.config.builder import from_section
from broadway_py.config.models import SECTIONS
from broadway_py.config.reference import (
    DOCS,
    REGENERATE,
    TABLES,
    bound_text,
    default_text,
    main,
    options_table,
    refreshed,
    regions,
)
from broadway_py.errors import ConfigurationError
from broadway_py.option_spec import Option, option, options_of
from broadway_py.options import (
    RATE_LIMIT_INTERVAL,
    RATE_LIMIT_MESSAGES,
    BatcherOptions,
    RateLimitOptions,
)
from broadway_py.retry import RetryPolicy
from broadway_py.schema.sections import section_model

MODELS: dict[str, type[BaseModel]] = {
    "producer": models.ProducerSpec,
    "processors": models.ProcessorsSpec,
    "batchers": models.BatcherSpec,
    "rate_limit": models.RateLimitSpec,
    "retry": models.RetrySpec,
    "shutdown": models.ShutdownSpec,
    "supervisor": models.SupervisorSpec,
}

OPTIONS = [
    (section, name, default, described)
    for section, (cls, table) in SECTIONS.items()
    for name, default, described in options_of(cls, table)
]


def constraint(model: type[BaseModel], name: str, kind: type, attribute: str) -> Any:
    found = [
        getattr(m, attribute) for m in model.model_fields[name].metadata if isinstance(m, kind)
    ]
    return found[0] if found else None


def test_every_section_is_walked() -> None:
    assert set(MODELS) == set(SECTIONS)
    assert len(OPTIONS) >= 20


@pytest.mark.parametrize(
    ("section", "name", "default", "described"),
    OPTIONS,
    ids=[f"{section}.{name}" for section, name, _, _ in OPTIONS],
)
def test_model_core_and_docs_agree(
    section: str, name: str, default: Any, described: Option
) -> None:
    model = MODELS[section]
    field = model.model_fields[name]
    # The schema: same default and bounds as the core field.
    if default is dataclasses.MISSING:
        assert field.is_required()
    elif isinstance(default, tuple):
        assert field.get_default(call_default_factory=True) == list(default)
    else:
        assert field.get_default() == default
    assert constraint(model, name, annotated_types.Ge, "ge") == described.least
    assert constraint(model, name, annotated_types.Gt, "gt") == described.above
    assert constraint(model, name, annotated_types.Le, "le") == described.most
    assert field.description == described.doc
    # The docs: a row of the section's table, and of the Bounds table when bounded.
    docs = DOCS.read_text(encoding="utf-8")
    if section != "producer":  # the producer's table also lists the connectors: by hand
        row = f"| `{name}` | {default_text(default, described)} | {described.doc} |"
        assert row in docs
    bound = bound_text(described)
    if bound is not None:
        where = "batchers.*" if section == "batchers" else section
        assert f"| `{where}.{name}` | {bound} |" in docs


@pytest.mark.parametrize(
    ("section", "name", "default", "described"),
    [o for o in OPTIONS if o[3].least is not None or o[3].above is not None],
    ids=[f"{o[0]}.{o[1]}" for o in OPTIONS if o[3].least is not None or o[3].above is not None],
)
def test_core_refuses_what_the_schema_refuses_below(
    section: str, name: str, default: Any, described: Option
) -> None:
    low = described.least if described.least is not None else described.above
    assert low is not None
    below = low - 1 if described.least is not None else low
    cls, _ = SECTIONS[section]
    data = {"allowed_messages": 10} if cls is RateLimitOptions else {}
    data[name] = below
    with pytest.raises(ValidationError):
        MODELS[section].model_validate(data)
    if cls is RetryPolicy:
        return  # its checks are its own (retry.py)
    if section == "producer":
        data["producer"] = lambda: None
    with pytest.raises(ConfigurationError) as raised:
        cls(**data)
    where = f"batchers.default.{name}" if section == "batchers" else f"{section}.{name}"
    assert raised.value.option == where


def test_the_docs_tables_are_generated_from_the_definitions() -> None:
    committed = DOCS.read_text(encoding="utf-8")
    assert sorted(regions(committed)) == sorted(set(TABLES) - {"producer"})
    assert refreshed(committed) == committed, (
        f"docs/configuration.md has stale option tables; regenerate them with: {REGENERATE}"
    )


def test_the_check_command_says_the_committed_docs_are_fresh() -> None:
    assert main(["--check"]) == 0


def test_a_stale_table_is_found() -> None:
    committed = DOCS.read_text(encoding="utf-8")
    stale = committed.replace("| `batch_size` | 100 |", "| `batch_size` | 200 |")
    assert stale != committed
    assert refreshed(stale) == committed


def test_every_field_of_the_retry_policy_is_a_described_option() -> None:
    fields = {field.name for field in dataclasses.fields(RetryPolicy)} - {"rng"}
    assert {name for name, _, _ in options_of(RetryPolicy)} == fields


def test_rate_limit_bounds_come_from_the_definition() -> None:
    assert RATE_LIMIT_MESSAGES == (1, 1_000_000_000)
    assert RATE_LIMIT_INTERVAL == (0.001, 3600.0)
    with pytest.raises(ConfigurationError, match="at most 1_000_000_000"):
        RateLimitOptions(1_000_000_001)
    with pytest.raises(ConfigurationError, match=r"rate_limit\.interval: must be at most 3600"):
        RateLimitOptions(10, math.inf)


def test_a_new_batcher_option_is_one_edit() -> None:
    """An option added to the core object is in the schema, the build and the docs table."""

    @dataclass(frozen=True)
    class Extended(BatcherOptions):
        linger: float = option(0.5, "wait this long for more", least=0, most=10)

    model = section_model("ExtendedSpec", Extended, models.Spec, "A batcher with one more option.")
    with pytest.raises(ValidationError, match="less than or equal to 10"):
        model.model_validate({"linger": 11})
    built = from_section(Extended, model.model_validate({"linger": 2, "batch_size": 7}), name="x")
    assert (built.linger, built.batch_size, built.name) == (2, 7, "x")
    before = dict(SECTIONS)
    try:
        SECTIONS["batchers"] = (Extended, None)
        assert "| `linger` | 0.5 | wait this long for more |" in options_table("batchers")
    finally:
        SECTIONS.clear()
        SECTIONS.update(before)
