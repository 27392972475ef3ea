import pytest

from broadway_py import Message
from broadway_py.acknowledger import NOOP_ACKNOWLEDGER


def make(data: object = b"x") -> Message:
    return Message(data, acknowledger=NOOP_ACKNOWLEDGER)


def test_defaults() -> None:
    message = make()
    assert message.status.ok
    assert message.attempt == 1
    assert message.batcher is None
    assert message.batch_mode == "bulk"
    assert message.metadata == {}


def test_put_methods_chain_and_change_the_message() -> None:
    message = make()
    same = message.put_data(b"y").put_batcher("s3").put_batch_key("k").put_batch_mode("flush")
    assert same is message
    assert (message.data, message.batcher, message.batch_key, message.batch_mode) == (
        b"y",
        "s3",
        "k",
        "flush",
    )


def test_failed_with_a_reason_or_an_exception() -> None:
    assert make().failed("nope").status.reason == "nope"
    error = ValueError("bad")
    failed = make().failed(error)
    assert not failed.status.ok
    assert failed.status.reason == "ValueError: bad"
    assert failed.status.exception is error


def test_unknown_batch_mode_is_rejected() -> None:
    with pytest.raises(ValueError, match="batch_mode"):
        make().put_batch_mode("sometimes")  # type: ignore[arg-type]
