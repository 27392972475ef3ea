import random

import pytest

from broadway_py import ConfigurationError, Message, RetryPolicy
from broadway_py.acknowledger import NOOP_ACKNOWLEDGER
from broadway_py.errors import DecodeError


def failed(attempt: int, error: BaseException | None = None) -> Message:
    message = Message(b"x", acknowledger=NOOP_ACKNOWLEDGER, attempt=attempt)
    return message.failed(error or RuntimeError("boom"))


def test_retries_until_max_attempts_then_dead_letters() -> None:
    policy = RetryPolicy(max_attempts=3, min_delay=1, max_delay=100, jitter=0)
    assert policy.decide(failed(1)).kind == "retry"
    assert policy.decide(failed(2)).kind == "retry"
    last = policy.decide(failed(3))
    assert last.kind == "dead_letter"
    assert last.reason == "RuntimeError: boom"


def test_discards_when_dead_lettering_is_off() -> None:
    assert RetryPolicy(max_attempts=1, dead_letter=False).decide(failed(1)).kind == "discard"


def test_backoff_is_exponential_and_capped() -> None:
    policy = RetryPolicy(min_delay=1, max_delay=10, multiplier=2, jitter=0)
    assert [policy.backoff(a) for a in range(1, 7)] == [1, 2, 4, 8, 10, 10]
    assert policy.decide(failed(2)).delay == 2


@pytest.mark.parametrize("attempt", [1, 2, 3, 50, 5000])
def test_jitter_stays_within_bounds(attempt: int) -> None:
    policy = RetryPolicy(min_delay=0.5, max_delay=30, jitter=0.5, rng=random.Random(7))
    delays = [policy.backoff(attempt) for _ in range(200)]
    assert all(0.5 <= d <= 30 for d in delays)
    if attempt <= 3:
        assert len(set(delays)) > 1  # jitter spreads the delays


def test_never_retry_exceptions_and_poison_messages_skip_retries() -> None:
    policy = RetryPolicy(max_attempts=5, never_retry=(KeyError,))
    assert policy.decide(failed(1, KeyError("k"))).kind == "dead_letter"
    assert policy.decide(failed(1, DecodeError("not json"))).kind == "dead_letter"
    assert policy.decide(failed(1, ValueError("v"))).kind == "retry"


@pytest.mark.parametrize(
    ("options", "option"),
    [
        ({"max_attempts": 0}, "retry.max_attempts"),
        ({"min_delay": -1}, "retry.min_delay"),
        ({"min_delay": 5, "max_delay": 1}, "retry.max_delay"),
        ({"multiplier": 0.5}, "retry.multiplier"),
        ({"jitter": 2}, "retry.jitter"),
    ],
)
def test_bad_options_name_the_option(options: dict[str, float], option: str) -> None:
    with pytest.raises(ConfigurationError, match=option) as raised:
        RetryPolicy(**options)  # type: ignore[arg-type]
    assert raised.value.option == option
