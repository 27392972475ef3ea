"""``decode: {format: json, model: package.module:Class}`` in a pipeline file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from broadway_py import Decode, Message, NoopAcknowledger
from broadway_py.config import ConfigFileError, load_pipeline, parse_set
from broadway_py.config.render import echo_yaml, graph_text
from broadway_py.errors import DecodeError
from examples.orders_model import Order
from tests.unit.config.conftest import Workspace

HEAD = """
name: typed
handler: {h}:handle
producer:
  memory: {queue: typed}
"""

MODELS = """
from pydantic import BaseModel


class Point(BaseModel):
    x: int
    y: int


class Plain:
    pass


NUMBER = 3
"""


def problems(path: Path, *sets: str) -> list[str]:
    with pytest.raises(ConfigFileError) as caught:
        load_pipeline(path, [parse_set(s) for s in sets], env={})
    return [str(p) for p in caught.value.problems]


def test_a_model_reference_makes_the_producer_parse_into_it(workspace: Workspace) -> None:
    path = workspace.file(HEAD + "  decode: {format: json, model: examples.orders_model:Order}\n")
    loaded, pipeline = load_pipeline(path, env={})
    options = pipeline.producer_options
    assert options.decode == Decode("json", model=Order)
    assert options.transformer is None
    step = options.transform
    assert step is not None
    body = {"id": 1, "customer": "c", "lines": [{"sku": "s", "quantity": 1, "price": 2}]}
    made = step(Message(json.dumps(body).encode(), acknowledger=NoopAcknowledger())).data
    assert isinstance(made, Order)
    with pytest.raises(DecodeError, match="customer: Field required"):
        step(Message(b'{"id": 1, "lines": []}', acknowledger=NoopAcknowledger()))
    assert "(decode json as examples.orders_model:Order)" in graph_text(loaded, pipeline)


def test_format_defaults_to_json_and_a_transformer_runs_after(workspace: Workspace) -> None:
    models = workspace.module(MODELS, "models")
    path = workspace.file(
        HEAD + f"  decode:\n    model: {models}:Point\n  transformer: {{h}}:handle\n"
    )
    _, pipeline = load_pipeline(path, env={})
    options = pipeline.producer_options
    assert options.decode is not None
    assert options.decode.format == "json"
    assert options.transform is not None
    assert options.transform.__qualname__ == "decode json as Point, then handle"


def test_the_plain_formats_are_unchanged(workspace: Workspace) -> None:
    for form, expected in [("json", b'{"a": 1}'), ("text", b"hi"), ("bytes", b"raw")]:
        path = workspace.file(HEAD + f"  decode: {form}\n")
        loaded, pipeline = load_pipeline(path, env={})
        options = pipeline.producer_options
        assert options.decode == Decode(form)  # type: ignore[arg-type]
        assert yaml.safe_load(echo_yaml(loaded))["producer"]["decode"] == form
        step = options.transform
        data = Message(expected, acknowledger=NoopAcknowledger())
        result = data.data if step is None else step(data).data
        assert result == {"json": {"a": 1}, "text": "hi", "bytes": b"raw"}[form]
    assert load_pipeline(workspace.file(HEAD), env={})[1].producer_options.transform is None


def test_echo_writes_the_model_back_and_reloads(workspace: Workspace) -> None:
    path = workspace.file(HEAD + "  decode: {model: examples.orders_model:Order}\n")
    loaded, _ = load_pipeline(path, env={})
    echoed = echo_yaml(loaded)
    assert yaml.safe_load(echoed)["producer"]["decode"] == {
        "format": "json",
        "model": "examples.orders_model:Order",
    }
    again, pipeline = load_pipeline(workspace.file(echoed, "echoed.yaml"), env={})
    assert again.spec.producer.decode == loaded.spec.producer.decode
    assert pipeline.producer_options.decode == Decode("json", model=Order)


def test_a_model_that_does_not_resolve_is_reported_at_its_place(workspace: Workspace) -> None:
    models = workspace.module(MODELS, "models")
    cases = {
        f"{models}:Pointt": f"'{models}' has no attribute 'Pointt' (did you mean 'Point'?)",
        "no_such_models_module:Order": "cannot import 'no_such_models_module:Order': no module "
        "named 'no_such_models_module'",
        f"{models}:Plain": f"model '{models}:Plain' is a class, not a pydantic model "
        "(a subclass of pydantic.BaseModel)",
        f"{models}:NUMBER": f"model '{models}:NUMBER' is a int, not a pydantic model",
        "Order": "'Order' is not an import path",
    }
    for reference, problem in cases.items():
        path = workspace.file(HEAD + f"  decode:\n    format: json\n    model: {reference}\n")
        (found,) = problems(path)
        assert found.startswith(f"{path}:7:12: producer.decode.model: {problem}"), found


def test_a_wrong_decode_form_is_reported_at_its_place(workspace: Workspace) -> None:
    path = workspace.file(HEAD + "  decode: xml\n")
    assert problems(path) == [
        f"{path}:5:11: producer.decode: should be json, text, bytes or "
        "{format: json, model: package.module:Class}, not 'xml'"
    ]
    path = workspace.file(HEAD + "  decode: {format: text, model: examples.orders_model:Order}\n")
    assert problems(path) == [f"{path}:5:33: producer.decode: model needs format json, not text"]
    path = workspace.file(HEAD + "  decode: {format: json, modle: examples.orders_model:Order}\n")
    assert problems(path) == [
        f"{path}:5:26: producer.decode: unknown key 'modle' (did you mean 'model'?)"
    ]


def test_set_can_switch_the_format(workspace: Workspace) -> None:
    path = workspace.file(HEAD + "  decode: json\n")
    _, pipeline = load_pipeline(path, [parse_set("producer.decode=text")], env={})
    assert pipeline.producer_options.decode == Decode("text")
