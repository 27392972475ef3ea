"""aio-pika / aiormq exceptions translated into broadway_py.errors, in one place.

- refused credentials, or a vhost the user may not use: AuthenticationFailed;
- a queue (or a binding's exchange) that does not exist: DestinationNotFound,
  naming it;
- a declaration that does not match what exists (inequivalent arguments):
  ConfigurationError naming the option;
- anything else on the way to the broker (refused, reset, timed out, closed):
  BrokerUnavailable, retried with backoff.
"""

from __future__ import annotations

from typing import Any

from aiormq import exceptions as amqp

from broadway_py.connectors.rabbitmq.options import Options
from broadway_py.errors import (
    AuthenticationFailed,
    BroadwayError,
    BrokerUnavailable,
    ConfigurationError,
    ConnectorError,
    DestinationNotFound,
)

FATAL = (AuthenticationFailed, DestinationNotFound, ConfigurationError)
"""Errors that retrying cannot fix: start() raises them, a reconnect stops on them."""

CONNECTION_REFUSALS = (403, 530)  # ACCESS_REFUSED, NOT_ALLOWED (vhost)


def describe(error: BaseException) -> str:
    """A one-line description of a client error."""
    if isinstance(error, amqp.AMQPError) and error.args:
        text = "; ".join(_arg_text(arg) for arg in error.args)
    else:
        text = str(error)
    name = type(error).__name__
    return f"{name}: {text}" if text else name


def _arg_text(arg: Any) -> str:
    reply_text = getattr(arg, "reply_text", None)
    if reply_text is not None:
        return f"{getattr(arg, 'reply_code', '?')} {reply_text}"
    return str(arg)


def _connection_close(error: BaseException) -> tuple[int, str] | None:
    """The (reply_code, reply_text) of a Connection.Close carried by ``error``, if any."""
    for arg in getattr(error, "args", ()):
        code = getattr(arg, "reply_code", None)
        if isinstance(code, int) and getattr(arg, "name", "") == "Connection.Close":
            return code, str(getattr(arg, "reply_text", ""))
    return None


def translate(
    error: BaseException,
    options: Options,
    *,
    queue: str | None = None,
    exchange: str | None = None,
    option: str = "rabbitmq.declare",
) -> BroadwayError:
    """The broadway_py error for a client exception.

    ``queue`` / ``exchange`` name what the failing call was about, so that a
    missing entity is named in the message.
    """
    if isinstance(error, BroadwayError):
        return error
    where = f"RabbitMQ at {options.display_url}"
    if isinstance(error, amqp.ProbableAuthenticationError | amqp.AuthenticationError):
        return AuthenticationFailed(
            f"{where} refused the credentials of user {options.user!r}: {describe(error)}"
        )
    close = _connection_close(error)
    if close is not None and close[0] in CONNECTION_REFUSALS:
        return AuthenticationFailed(
            f"{where} refused user {options.user!r} access to vhost {options.vhost!r}: "
            f"{close[0]} {close[1]}"
        )
    if isinstance(error, amqp.ConnectionNotAllowed):
        return AuthenticationFailed(
            f"{where} refused user {options.user!r} access to vhost {options.vhost!r}: "
            f"{describe(error)}"
        )
    if isinstance(error, amqp.ChannelNotFoundEntity):
        if exchange is not None:
            return DestinationNotFound(
                f"exchange {exchange!r} does not exist on vhost {options.vhost!r} of {where} "
                f"(set exchange_type on the binding to declare it)"
            )
        name = queue if queue is not None else options.queue
        return DestinationNotFound(
            f"queue {name!r} does not exist on vhost {options.vhost!r} of {where} "
            f"(run broadway-py provision, or set declare, to create it)"
        )
    if isinstance(error, amqp.ChannelAccessRefused):
        what = f"exchange {exchange!r}" if exchange else f"queue {queue or options.queue!r}"
        return AuthenticationFailed(
            f"{where}: user {options.user!r} may not use {what}: {describe(error)}"
        )
    if isinstance(error, amqp.ChannelPreconditionFailed):
        return ConfigurationError(option, f"{where} refused it: {describe(error)}")
    return BrokerUnavailable(f"cannot use {where}: {describe(error)}")


def is_fatal(error: ConnectorError | BroadwayError) -> bool:
    return isinstance(error, FATAL)
