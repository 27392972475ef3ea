"""The decode step (broadway_py.decoding): formats, typed bodies, its place in ProducerOptions."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel, Field, create_model

from broadway_py import (
    ConfigurationError,
    Decode,
    Message,
    NoopAcknowledger,
    PoisonMessageError,
    ProducerOptions,
)
from broadway_py.connectors.memory import MemoryBroker, MemoryProducer
from broadway_py.decoding import MAX_REASON
from broadway_py.errors import DecodeError
from examples.orders_model import Line, Order

GOOD = {"id": 7, "customer": "acme", "lines": [{"sku": "a-1", "quantity": 2, "price": 3.5}]}


def message(data: Any) -> Message:
    return Message(data, acknowledger=NoopAcknowledger())


def decoded(decode: Decode, data: Any) -> Any:
    step = decode.decoder()
    assert step is not None
    return step(message(data)).data


def reason(decode: Decode, data: Any) -> str:
    step = decode.decoder()
    assert step is not None
    with pytest.raises(DecodeError) as caught:
        step(message(data))
    assert isinstance(caught.value, PoisonMessageError)
    return str(caught.value)


def test_a_valid_body_becomes_a_model_instance() -> None:
    data = decoded(Decode("json", model=Order), json.dumps(GOOD).encode())
    assert isinstance(data, Order)
    assert data.lines == [Line(sku="a-1", quantity=2, price=3.5)]
    assert data.total == 7.0
    # Text and memoryview bodies parse too.
    assert decoded(Decode(model=Order), json.dumps(GOOD)) == data
    assert decoded(Decode(model=Order), memoryview(json.dumps(GOOD).encode())) == data


def test_a_body_that_is_not_json_is_a_decode_error() -> None:
    assert reason(Decode(model=Order), b"{not json") == (
        "payload is not valid JSON: key must be a string at line 1 column 2"
    )
    assert reason(Decode(model=Order), b"\xff\xfe").startswith("payload is not valid JSON: ")
    assert reason(Decode(model=Order), None) == (
        "payload is not valid JSON: expected bytes or text, not NoneType"
    )


def test_a_validation_failure_gives_a_short_summary_never_the_payload() -> None:
    body = {"id": "seven", "lines": [{"sku": "a", "quantity": 0, "price": 1}], "note": "pw=hunter2"}
    text = reason(Decode(model=Order), json.dumps(body).encode())
    assert text == (
        "payload is not a valid Order: 3 validation errors: "
        "id: Input should be a valid integer, unable to parse string as an integer; "
        "customer: Field required; lines.0.quantity: Input should be greater than 0"
    )
    assert "seven" not in text
    assert "hunter2" not in text


def test_many_errors_are_counted_and_the_reason_is_bounded() -> None:
    fields: dict[str, Any] = {f"field_{i:03}_" + "x" * 80: (int, ...) for i in range(50)}
    many = create_model("Many", **fields)
    text = reason(Decode(model=many), b"{}")
    assert text.startswith("payload is not a valid Many: 50 validation errors: field_000_")
    assert len(text) <= MAX_REASON
    assert text.endswith("...")


def test_one_error_and_nested_places() -> None:
    class Box(BaseModel):
        items: list[Line] = Field(min_length=1)

    text = reason(Decode(model=Box), b'{"items": [{"sku": "", "quantity": 1, "price": 0}]}')
    assert text == (
        "payload is not a valid test_one_error_and_nested_places.<locals>.Box: "
        "1 validation error: items.0.sku: String should have at least 1 character"
    )
    assert reason(Decode(model=Box), b"[1, 2]").endswith("(body): Input should be an object")


def test_any_class_with_model_validate_json_will_do() -> None:
    class Upper:
        @classmethod
        def model_validate_json(cls, data: str | bytes | bytearray) -> str:
            text = bytes(data).decode() if not isinstance(data, str) else data
            if not text.isalpha():
                raise ValueError("letters only, got " + text * 200)
            return text.upper()

    assert decoded(Decode(model=Upper), b"abc") == "ABC"
    text = reason(Decode(model=Upper), b"a1")
    assert text.startswith("payload is not a valid test_any_class_with_model_validate_json_will")
    assert "ValueError: letters only" in text
    assert len(text) <= MAX_REASON


def test_plain_formats_keep_working() -> None:
    assert decoded(Decode("json"), b'{"a": [1]}') == {"a": [1]}
    assert decoded(Decode("text"), b"caf\xc3\xa9") == "café"
    assert Decode("bytes").decoder() is None
    assert reason(Decode("json"), b"nope").startswith("payload is not valid JSON: Expecting value")
    assert reason(Decode("text"), b"\xff").startswith("payload is not UTF-8 text")


def not_a_format() -> Decode:
    return Decode("xml")  # type: ignore[arg-type]


def not_a_model() -> Decode:
    return Decode(model=dict)  # type: ignore[arg-type]


def not_a_decode() -> ProducerOptions:
    return ProducerOptions(lambda: MemoryProducer("q"), decode="json")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (not_a_format, "format must be one of json, text, bytes, not 'xml'"),
        (lambda: Decode("text", model=Order), "a model needs format 'json', not 'text'"),
        (not_a_model, "has no model_validate_json: pass a pydantic model class"),
        (not_a_decode, "must be a Decode (Decode('json')), not 'json'"),
    ],
)
def test_a_wrong_decode_is_a_configuration_error(make: Any, problem: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        make()
    assert caught.value.option == "producer.decode"
    assert caught.value.problem.endswith(problem)


def test_decode_is_shown_with_its_model() -> None:
    assert str(Decode("text")) == "text"
    assert str(Decode("json", model=Order)) == "json as Order"


def stamp(message: Message) -> Message:
    return message.put_data(("stamped", message.data))


def test_transform_is_decode_then_the_transformer_composed_once() -> None:
    factory = MemoryProducer.factory("q", MemoryBroker())
    both = ProducerOptions(factory, transformer=stamp, decode=Decode("json", model=Order))
    step = both.transform
    assert step is not None
    assert step is both.transform  # made once, not per message
    assert step.__qualname__ == "decode json as Order, then stamp"
    tag, order = step(message(json.dumps(GOOD).encode())).data
    assert (tag, type(order)) == ("stamped", Order)
    with pytest.raises(DecodeError):  # the transformer never sees a body that does not decode
        step(message(b"{}"))

    assert ProducerOptions(factory).transform is None
    assert ProducerOptions(factory, decode=Decode("bytes")).transform is None
    assert ProducerOptions(factory, transformer=stamp, decode=Decode("bytes")).transform is stamp
    only = ProducerOptions(factory, decode=Decode("json"))
    assert only.transform is not None
    assert only.transform(message(b"[1]")).data == [1]
    # The cached step is no field of its own: equal options stay equal.
    assert ProducerOptions(factory, decode=Decode("text")) == ProducerOptions(
        factory, decode=Decode("text")
    )
