"""Client exceptions become broadway_py errors that name what is wrong."""

from __future__ import annotations

from aiormq import exceptions as amqp
from pamqp.commands import Connection

from broadway_py.connectors.rabbitmq import Options
from broadway_py.connectors.rabbitmq.errors import translate
from broadway_py.errors import (
    AuthenticationFailed,
    BrokerUnavailable,
    ConfigurationError,
    DestinationNotFound,
)

OPTIONS = Options.model_validate({"url": "amqp://alice:pw@10.0.0.1:5672/shop", "queue": "orders"})


def test_refused_credentials() -> None:
    error = translate(
        amqp.ProbableAuthenticationError("ACCESS_REFUSED - Login was refused"), OPTIONS
    )
    assert isinstance(error, AuthenticationFailed)
    assert "'alice'" in str(error)
    assert "pw@" not in str(error)
    assert "amqp://alice:**********@10.0.0.1:5672/shop" in str(error)


def test_a_vhost_the_user_may_not_use() -> None:
    close = Connection.Close(
        reply_code=530, reply_text="NOT_ALLOWED - access to vhost 'shop' refused"
    )
    error = translate(amqp.InvalidFrameError(close), OPTIONS)
    assert isinstance(error, AuthenticationFailed)
    assert "vhost 'shop'" in str(error)


def test_a_missing_queue_or_exchange_is_named() -> None:
    missing = amqp.ChannelNotFoundEntity("NOT_FOUND - no queue 'orders' in vhost 'shop'")
    error = translate(missing, OPTIONS, queue="orders")
    assert isinstance(error, DestinationNotFound)
    assert "queue 'orders'" in str(error)
    error = translate(missing, OPTIONS, exchange="events")
    assert isinstance(error, DestinationNotFound)
    assert "exchange 'events'" in str(error)


def test_an_inequivalent_declaration_is_a_configuration_error() -> None:
    error = translate(
        amqp.ChannelPreconditionFailed("PRECONDITION_FAILED - inequivalent arg 'durable'"),
        OPTIONS,
        option="rabbitmq.declare",
    )
    assert isinstance(error, ConfigurationError)
    assert error.option == "rabbitmq.declare"
    assert "inequivalent arg 'durable'" in str(error)


def test_anything_else_is_unavailable_and_retried() -> None:
    for raised in (
        amqp.AMQPConnectionError(111, "Connect call failed"),
        ConnectionResetError("reset"),
        TimeoutError(),
    ):
        error = translate(raised, OPTIONS)
        assert isinstance(error, BrokerUnavailable)
        assert "10.0.0.1" in str(error)
