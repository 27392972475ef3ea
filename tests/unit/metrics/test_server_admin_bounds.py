"""The admin endpoint's input: bounded JSON, rate-limit values within bounds, the bearer token."""

from __future__ import annotations

import math

import pytest

from broadway_py.metrics.admin_token import ADMIN_TOKEN_ENV, admin_token_from, bearer_matches
from broadway_py.metrics.http_limits import HttpLimits
from broadway_py.metrics.json_body import BodyError, HugeNumber, nesting_depth, parse_json
from broadway_py.metrics.rate_limit_body import (
    RateLimitBodyError,
    RateLimitChange,
    parse_rate_limit_change,
)


def test_nesting_depth_ignores_brackets_in_strings() -> None:
    assert nesting_depth('{"a": [1, {"b": "[[[{{{"}]}') == 3
    assert nesting_depth('"\\"[["') == 0
    assert nesting_depth("1") == 0


def test_parse_json_bounds() -> None:
    assert parse_json(b'{"interval": 2}', 2) == {"interval": 2}
    with pytest.raises(BodyError, match="nests 3 levels deep; at most 2"):
        parse_json(b"[[[]]]", 2)
    huge = parse_json(b"-" + b"7" * 100, 2)
    assert isinstance(huge, HugeNumber)
    assert repr(huge) == "-<a number of 100 digits>"
    assert math.isinf(parse_json(b"Infinity", 2))
    with pytest.raises(BodyError, match="not valid JSON"):
        parse_json(b"{", 2)


def test_rate_limit_change_within_bounds() -> None:
    assert parse_rate_limit_change({"allowed_messages": 1_000_000, "interval": 3600}) == (
        RateLimitChange(1_000_000, 3600.0)
    )
    assert parse_rate_limit_change({"interval": 0.001}) == RateLimitChange(None, 0.001)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"interval": math.inf}, "from 0.001 to 3600, not inf"),
        ({"interval": math.nan}, "not nan"),
        ({"interval": 0.0005}, "not 0.0005"),
        (
            {"allowed_messages": HugeNumber("9" * 99)},
            "from 1 to 1_000_000_000, not <a number of 99",
        ),
        ({"allowed_messages": -3}, "not -3"),
        ({"allowed_messages": "x" * 100}, "not 'xxxxxxxx"),
        ({}, "give allowed_messages and/or interval"),
        ([], "must be a JSON object"),
    ],
)
def test_rate_limit_change_out_of_bounds(body: object, message: str) -> None:
    with pytest.raises(RateLimitBodyError) as raised:
        parse_rate_limit_change(body)
    assert message in str(raised.value)
    assert len(str(raised.value)) < 160


def test_bearer_token() -> None:
    assert bearer_matches("Bearer t0ken", "t0ken")
    assert bearer_matches("bearer  t0ken ", "t0ken")
    assert not bearer_matches(None, "t0ken")
    assert not bearer_matches("Bearer", "t0ken")
    assert not bearer_matches("Basic t0ken", "t0ken")
    assert not bearer_matches("Bearer t0ke", "t0ken")
    assert not bearer_matches("Bearer tøken", "t0ken")
    assert admin_token_from({}) is None
    assert admin_token_from({ADMIN_TOKEN_ENV: " abc "}) == "abc"
    with pytest.raises(ValueError, match="set but empty"):
        admin_token_from({ADMIN_TOKEN_ENV: "  "})


def test_limits_are_checked() -> None:
    with pytest.raises(ValueError, match="header_timeout"):
        HttpLimits(header_timeout=0)
    with pytest.raises(ValueError, match="max_connections"):
        HttpLimits(max_connections=0)
