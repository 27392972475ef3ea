"""``json_parse.loads`` answers exactly as ``json.loads`` does: the same value or the same error."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from broadway_py import json_parse


def _same(a: Any, b: Any) -> bool:
    """Equal values of the same types, in the same order (NaN equal to NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (
            a == b and math.copysign(1, a) == math.copysign(1, b)
        )
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _outcome(parse: Any, data: Any) -> tuple[str, Any]:
    try:
        return "value", parse(data)
    except Exception as error:
        return "error", (type(error), str(error))


def _agree(data: Any) -> None:
    expected = _outcome(json.loads, data)
    got = _outcome(json_parse.loads, data)
    assert got[0] == expected[0], (data, got, expected)
    if got[0] == "value":
        assert _same(got[1], expected[1]), (data, got, expected)
    else:
        assert got[1] == expected[1]


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(-(10**40), 10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(),
)
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.dictionaries(st.text(), inner, max_size=5)
    ),
    max_leaves=30,
)
# Number spellings json.dumps never writes: long mantissas, exponents at the edges.
numbers = st.from_regex(r"\A-?(0|[1-9][0-9]{0,25})(\.[0-9]{1,25})?([eE][+-]?[0-9]{1,3})?\Z")
# JSON-ish fragments glued together: mostly invalid, some valid, some only json.loads takes.
fragments = st.lists(
    st.sampled_from(
        [
            "{",
            "}",
            "[",
            "]",
            ",",
            ":",
            '"',
            "\\",
            "\\u",
            "d800",
            "dc00",
            "00e9",
            "1",
            "-",
            "0",
            ".",
            "e",
            "NaN",
            "Infinity",
            "true",
            "null",
            " ",
            "\t",
            "\n",
            "\x00",
            "\x01",
            "é",
            "\ud800",  # a lone surrogate in a str, not escaped
            "\ufeff",
            '"a"',
            '"a":1',
            "[1,2]",
            "1e400",
        ]
    ),
    max_size=12,
).map("".join)


@settings(max_examples=400)
@given(documents, st.booleans(), st.booleans())
def test_every_document_parses_as_json_loads_parses_it(
    value: Any, ensure_ascii: bool, as_bytes: bool
) -> None:
    text = json.dumps(value, ensure_ascii=ensure_ascii)
    _agree(text.encode("utf-8", "surrogatepass") if as_bytes else text)


@settings(max_examples=400)
@given(numbers)
@example("9007199254740993.0")
@example("2.2250738585072011e-308")
@example("1.7976931348623159e308")
def test_numbers_parse_to_the_same_value(text: str) -> None:
    _agree(text)
    _agree(f"[{text}]".encode())


@settings(max_examples=600)
@given(fragments, st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-32", "latin-1"]))
def test_odd_input_gets_the_same_value_or_the_same_error(text: str, encoding: str) -> None:
    _agree(text)
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:
        return
    _agree(data)


@pytest.mark.parametrize(
    "data",
    [
        b'"\\ud800"',  # a lone surrogate: from_json refuses, json.loads takes
        b'{"\\udc00": 1}',
        b"\xef\xbb\xbf{}",  # a byte order mark
        '"é"'.encode("utf-16"),
        b"[" * 300 + b"]" * 300,  # deeper than from_json's limit
        b'"\xff"',  # not UTF-8: json.loads's UnicodeDecodeError
        b"",
        bytearray(b'{"a": [1, 2.5, "x"]}'),
        memoryview(b"[1]"),  # neither parses it: json.loads's TypeError
        12,
    ],
)
def test_what_from_json_refuses_is_json_loads_answer(data: Any) -> None:
    _agree(data)
