"""How delay queues are declared, and which servers can keep their retries across a restart."""

from __future__ import annotations

from broadway_py.connectors.rabbitmq.delays import (
    at_least_once_supported,
    delay_arguments,
    mismatch_warning,
    server_name,
    unsafe_server_warning,
)


def test_rabbitmq_3_10_and_later_dead_letter_at_least_once() -> None:
    assert at_least_once_supported({"product": "RabbitMQ", "version": "3.10.8"})
    assert at_least_once_supported({"product": b"RabbitMQ", "version": b"3.13.0"})
    assert at_least_once_supported({"product": "RabbitMQ", "version": "4.0.1"})
    assert not at_least_once_supported({"product": "RabbitMQ", "version": "3.9.29"})
    assert not at_least_once_supported({"product": "RabbitMQ", "version": "weird"})
    assert not at_least_once_supported({"product": "LavinMQ", "version": "3.10.0"})
    assert not at_least_once_supported({})
    assert server_name({"product": "RabbitMQ", "version": b"3.9.29"}) == "RabbitMQ 3.9.29"


def test_a_bucket_is_a_quorum_queue_with_its_ttl_that_dead_letters_at_least_once() -> None:
    assert delay_arguments("orders", 1024, at_least_once=True) == {
        "x-queue-type": "quorum",
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": "orders",
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
        "x-message-ttl": 1024,
    }
    assert "x-message-ttl" not in delay_arguments("orders", None, at_least_once=True)


def test_an_older_server_gets_the_classic_declaration() -> None:
    assert delay_arguments("orders", 1024, at_least_once=False) == {
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": "orders",
    }


def test_the_warnings_name_the_risk_and_the_fix() -> None:
    text = unsafe_server_warning("RabbitMQ 3.9.29")
    assert "RabbitMQ 3.9.29" in text
    assert "lost" in text
    assert "3.10" in text
    text = mismatch_warning("orders.delay.1024ms", "inequivalent arg 'x-message-ttl'")
    assert "'orders.delay.1024ms'" in text
    assert "inequivalent arg 'x-message-ttl'" in text
    assert "rabbitmqctl delete_queue orders.delay.1024ms --if-empty" in text
    assert "retry.delay_queue" in text
