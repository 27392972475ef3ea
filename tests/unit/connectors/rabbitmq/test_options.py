"""Options: validation, redaction, prefetch sizing, backoff, queue names, factories."""

from __future__ import annotations

import random

import pytest
from pydantic import ValidationError

from broadway_py.connectors.rabbitmq import (
    DEAD_LETTER_OPTION,
    Options,
    RabbitMQProducer,
    ReconnectOptions,
    RetryOptions,
    ordering_key,
    producer_factory,
)
from broadway_py.connectors.rabbitmq.naming import bucket_ms, delay_ms, delay_queue
from broadway_py.connectors.rabbitmq.options import redacted_url

URL = "amqp://guest:s3cret@127.0.0.1:5672/orders"


def make(**fields: object) -> Options:
    return Options.model_validate({"url": URL, "queue": "q", **fields})


def test_the_password_never_shows() -> None:
    options = make()
    assert "s3cret" not in repr(options)
    assert "s3cret" not in str(options)
    dumped = options.model_dump_json()
    assert "s3cret" not in dumped
    assert "amqp://guest:**********@127.0.0.1:5672/orders" in dumped
    assert options.display_url == "amqp://guest:**********@127.0.0.1:5672/orders"
    assert options.url.get_secret_value() == URL
    assert (options.user, options.vhost) == ("guest", "orders")


def test_redacted_url_keeps_urls_without_a_password() -> None:
    assert redacted_url("amqps://host:5671/") == "amqps://host:5671/"
    assert redacted_url("amqps://u:p%40ss@host/v") == "amqps://u:**********@host/v"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://guest:guest@host/", "amqp:// or amqps://"),
        ("amqp:///vhost", "must name a host"),
        ("amqp://host:notaport/", "not a number"),
    ],
)
def test_bad_urls_are_rejected(url: str, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        Options.model_validate({"url": url, "queue": "q"})


def test_unknown_keys_are_errors() -> None:
    with pytest.raises(ValidationError, match="extra"):
        make(prefetch=10)
    with pytest.raises(ValidationError, match="extra"):
        make(declare={"durable": True, "exclusive": True})


def test_amqps_is_accepted() -> None:
    assert make(url="amqps://u:p@broker.example:5671/").display_url.startswith("amqps://")


def test_prefetch_defaults_to_twice_the_demand_within_amqp_limits() -> None:
    assert make().effective_prefetch(400) == 800
    assert make().effective_prefetch(0) == 1
    assert make().effective_prefetch(10**6) == 65535
    assert make(prefetch_count=7).effective_prefetch(400) == 7
    with pytest.raises(ValidationError):
        make(prefetch_count=0)


def test_dead_letter_accepts_a_queue_name() -> None:
    assert make(dead_letter="orders.failed").dead_letter.queue == "orders.failed"
    assert make(dead_letter={"strategy": "reject"}).dead_letter.strategy == "reject"
    assert DEAD_LETTER_OPTION in Options.model_fields


def test_ack_actions_are_checked() -> None:
    assert make(on_failure="reject_and_requeue_once").on_failure == "reject_and_requeue_once"
    with pytest.raises(ValidationError):
        make(on_success="decision")
    with pytest.raises(ValidationError):
        make(on_failure="nack")


def test_reconnect_backoff_grows_is_capped_and_jittered() -> None:
    backoff = ReconnectOptions(min_delay=0.5, max_delay=4.0, multiplier=2.0, jitter=0.2)
    rng = random.Random(7)
    for failures, base in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (30, 4.0)]:
        delays = [backoff.delay(failures, rng) for _ in range(200)]
        assert all(min(base * 0.8, 4.0) <= d <= min(base * 1.2, 4.0) for d in delays)
        assert len(set(delays)) > 1
    assert ReconnectOptions(jitter=0).delay(3) == 2.0
    with pytest.raises(ValidationError, match="max_delay"):
        ReconnectOptions(min_delay=5, max_delay=1)


def test_delay_queues_are_named_per_power_of_two_bucket() -> None:
    retry = RetryOptions()
    assert (delay_ms(0.0001), delay_ms(0.1), delay_ms(1.5)) == (1, 100, 1500)
    assert [bucket_ms(n) for n in (1, 2, 3, 100, 128, 129, 1500)] == [1, 2, 4, 128, 128, 256, 2048]
    assert delay_queue(retry, "orders", 100) == "orders.delay.128ms"
    flat = RetryOptions(delay_queue="retries.{queue}", bucketed=False)
    assert delay_queue(flat, "orders", 100) == "retries.orders"


def test_factory_builds_one_producer_per_call_with_the_prefetch() -> None:
    options = make()
    factory = producer_factory(options, demand=50)
    first, second = factory(), factory()
    assert isinstance(first, RabbitMQProducer)
    assert isinstance(second, RabbitMQProducer)
    assert first is not second
    assert first.prefetch == 100
    assert first.consumer_tag != second.consumer_tag
    assert make(consumer_tag="mine").consumer_tag == "mine"
    assert ordering_key(options) is None
