from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pydantic import ValidationError

from broadway_py.config.loader import load_config
from broadway_py.connectors.sqs import Options, message_group_id, ordering_key
from broadway_py.connectors.toolkit import ReconnectOptions


def test_needs_exactly_one_of_queue_url_and_queue_name() -> None:
    with pytest.raises(ValidationError, match="exactly one of queue_url and queue_name"):
        Options()
    with pytest.raises(ValidationError, match="exactly one"):
        Options(queue_name="a", queue_url="http://h/1/a")
    assert Options(queue_name="a").queue == "a"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_number_of_messages", 0),
        ("max_number_of_messages", 11),
        ("wait_time_seconds", 21),
        ("wait_time_seconds", -1),
        ("visibility_timeout", 0),
        ("visibility_timeout", 43_201),
        ("heartbeat_margin", 0),
        ("unknown_option", 1),
    ],
)
def test_rejects_out_of_range_and_unknown_options(field: str, value: int) -> None:
    with pytest.raises(ValidationError, match=field):
        Options.model_validate({"queue_name": "q", field: value})


def test_heartbeat_margin_must_be_below_the_visibility_timeout() -> None:
    with pytest.raises(ValidationError, match="heartbeat_margin must be below"):
        Options(queue_name="q", visibility_timeout=10, heartbeat_margin=10)


def test_heartbeat_timing_defaults_to_half_the_visibility_timeout() -> None:
    assert Options(queue_name="q").heartbeat_timing(30) == (15.0, 30)
    assert Options(queue_name="q", heartbeat_extension=8).heartbeat_timing(30) == (4.0, 8)
    assert Options(queue_name="q", heartbeat_margin=3).heartbeat_timing(30) == (3, 30)


def test_receives_in_flight_cover_the_demand_up_to_ten() -> None:
    options = Options(queue_name="q")
    assert [options.receives_for(d) for d in (1, 10, 11, 35, 100, 1000)] == [1, 1, 2, 4, 10, 10]
    assert Options(queue_name="q", max_number_of_messages=5).receives_for(12) == 3
    assert Options(queue_name="q", max_concurrent_receives=2).receives_for(1000) == 2


def test_fifo_is_detected_from_the_queue_name_or_url() -> None:
    assert Options(queue_name="orders.fifo").is_fifo
    assert Options(queue_url="https://sqs.eu-west-1.amazonaws.com/1/orders.fifo").is_fifo
    assert not Options(queue_name="orders").is_fifo
    assert Options(queue_name="orders", fifo=True).is_fifo


def test_ordering_key_is_the_message_group_on_fifo_queues_only() -> None:
    assert ordering_key(Options(queue_name="orders.fifo")) is message_group_id
    assert ordering_key(Options(queue_name="orders")) is None


def test_region_comes_from_an_aws_queue_url_unless_given() -> None:
    url = "https://sqs.eu-west-1.amazonaws.com/123/orders"
    assert Options(queue_url=url).effective_region == "eu-west-1"
    assert Options(queue_url=url, region="us-east-2").effective_region == "us-east-2"
    assert Options(queue_url="http://127.0.0.1:35000/123/orders").effective_region is None


def test_receive_count_and_group_are_always_asked_for() -> None:
    names = Options(queue_name="q", attribute_names=["SentTimestamp"]).system_attribute_names()
    assert names == ["ApproximateReceiveCount", "MessageGroupId", "SentTimestamp"]
    assert Options(queue_name="q", attribute_names=["All"]).system_attribute_names() == ["All"]


def test_dead_letter_modes() -> None:
    assert Options(queue_name="q").dead_letter_mode == "auto"
    assert Options(queue_name="q", dead_letter="redrive").dead_letter_mode == "redrive"
    assert Options(queue_name="q", dead_letter="q-dlq").dead_letter_mode == "queue"
    # A blank value (``${VAR:}`` in a pipeline file) leaves the option unset.
    assert Options(queue_name="q", dead_letter=" ").dead_letter is None
    assert Options(queue_name="q", endpoint_url="").endpoint_url is None
    with pytest.raises(ValidationError, match="exactly one"):
        Options(queue_name="")


def test_reconnect_is_a_section_as_in_every_connector() -> None:
    options = Options.model_validate({"queue_name": "q", "reconnect": {"min_delay": 2}})
    assert (options.reconnect.min_delay, options.reconnect.max_delay) == (2, 30)
    assert Options(queue_name="q").reconnect == ReconnectOptions()


def test_the_old_flat_reconnect_keys_still_work_with_one_warning_each(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="broadway_py.connectors.sqs"):
        options = Options.model_validate(
            {"queue_name": "q", "reconnect_min_delay": 0.1, "reconnect_max_delay": 0.4}
        )
    assert (options.reconnect.min_delay, options.reconnect.max_delay) == (0.1, 0.4)
    assert [r.getMessage() for r in caplog.records] == [
        "SQS option reconnect_min_delay is deprecated: write reconnect: {min_delay: 0.1} instead",
        "SQS option reconnect_max_delay is deprecated: write reconnect: {max_delay: 0.4} instead",
    ]


def test_the_old_keys_are_checked_and_never_mixed_with_the_new_section() -> None:
    with pytest.raises(ValidationError, match="reconnect_max_delay must be at least"):
        Options.model_validate({"queue_name": "q", "reconnect_min_delay": 60})
    with pytest.raises(ValidationError, match="reconnect_min_delay"):
        Options.model_validate({"queue_name": "q", "reconnect_min_delay": 0})
    with pytest.raises(ValidationError, match=r"old spelling of reconnect\.max_delay"):
        Options.model_validate(
            {"queue_name": "q", "reconnect": {"min_delay": 1}, "reconnect_max_delay": 3}
        )


def handle(message: object) -> object:
    """The handler the pipeline files below name."""
    return message


def test_loading_a_file_with_an_old_key_warns_once_naming_the_new_spelling(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "pipeline.yaml"
    path.write_text(
        "name: old-keys\n"
        f"handler: {__name__}:handle\n"
        "producer:\n"
        "  sqs:\n"
        "    queue_name: orders\n"
        "    reconnect_max_delay: 12\n"
    )
    with caplog.at_level(logging.WARNING, logger="broadway_py.connectors.sqs"):
        loaded = load_config(path, env={})
    assert isinstance(loaded.options, Options)
    assert loaded.options.reconnect.max_delay == 12
    assert [r.getMessage() for r in caplog.records] == [
        "SQS option reconnect_max_delay is deprecated: write reconnect: {max_delay: 12} instead"
    ]
