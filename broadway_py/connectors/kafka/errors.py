"""aiokafka's exceptions, translated into broadway_py.errors in this one place.

- cannot reach a broker now (connection refused, timeouts, no coordinator,
  leader moving...): :class:`~broadway_py.errors.BrokerUnavailable`, retried
  with backoff;
- refused credentials, TLS verification, missing ACLs:
  :class:`~broadway_py.errors.AuthenticationFailed`, not retried;
- unknown topic: :class:`~broadway_py.errors.DestinationNotFound`, not retried;
- anything else: :class:`~broadway_py.errors.ConnectorError`.
"""

from __future__ import annotations

import asyncio
import ssl

from aiokafka import errors as kafka_errors  # type: ignore[import-untyped]

from broadway_py.errors import (
    AuthenticationFailed,
    BrokerUnavailable,
    ConnectorError,
    DestinationNotFound,
)
from broadway_py.message import describe_exception

_AUTHENTICATION: tuple[type[BaseException], ...] = (
    kafka_errors.AuthenticationFailedError,
    kafka_errors.AuthenticationMethodNotSupported,
    kafka_errors.SaslAuthenticationFailed,
    kafka_errors.UnsupportedSaslMechanismError,
    kafka_errors.IllegalSaslStateError,
    kafka_errors.TopicAuthorizationFailedError,
    kafka_errors.GroupAuthorizationFailedError,
    kafka_errors.ClusterAuthorizationFailedError,
    ssl.SSLCertVerificationError,
)
_NOT_FOUND: tuple[type[BaseException], ...] = (
    kafka_errors.UnknownTopicOrPartitionError,
    kafka_errors.InvalidTopicError,
)
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    kafka_errors.KafkaConnectionError,
    kafka_errors.NodeNotReadyError,
    kafka_errors.NoBrokersAvailable,
    kafka_errors.KafkaTimeoutError,
    kafka_errors.RequestTimedOutError,
    kafka_errors.GroupCoordinatorNotAvailableError,
    kafka_errors.NotCoordinatorForGroupError,
    kafka_errors.LeaderNotAvailableError,
    kafka_errors.NotLeaderForPartitionError,
    kafka_errors.GroupLoadInProgressError,
    kafka_errors.KafkaUnavailableError,
    asyncio.TimeoutError,
    ConnectionError,
    OSError,
)
#: A commit refused because the group moved on: the partitions may be someone else's.
REBALANCED: tuple[type[BaseException], ...] = (
    kafka_errors.CommitFailedError,
    kafka_errors.IllegalStateError,
    kafka_errors.RebalanceInProgressError,
    kafka_errors.UnknownMemberIdError,
    kafka_errors.IllegalGenerationError,
)
KafkaError: type[Exception] = kafka_errors.KafkaError
ConsumerStoppedError: type[Exception] = kafka_errors.ConsumerStoppedError
TopicAlreadyExistsError: type[Exception] = kafka_errors.TopicAlreadyExistsError


def translate(error: BaseException, context: str, *, during_sasl: bool = False) -> ConnectorError:
    """The broadway_py error for ``error``; ``context`` says what was being done, naming it.

    ``during_sasl``: the error came from a connection attempt with SASL set,
    where aiokafka's SCRAM client reports a refused login as a bare
    KeyError / ValueError.
    """
    if isinstance(error, ConnectorError):
        return error
    text = f"{context}: {_describe(error)}"
    if isinstance(error, _AUTHENTICATION):
        return AuthenticationFailed(text)
    if during_sasl and isinstance(error, KeyError | ValueError):
        return AuthenticationFailed(f"{context}: SASL authentication was refused ({error!r})")
    if isinstance(error, _NOT_FOUND):
        return DestinationNotFound(text)
    if isinstance(error, _UNAVAILABLE):
        return BrokerUnavailable(text)
    if isinstance(error, kafka_errors.KafkaError) and getattr(error, "retriable", False):
        return BrokerUnavailable(text)
    return ConnectorError(text)


def _describe(error: BaseException) -> str:
    """``Name: text``, without repeating the name when the text already starts with it."""
    text = describe_exception(error)
    name = type(error).__name__
    doubled = f"{name}: {name}"
    return text[len(name) + 2 :] if text.startswith(doubled) else text


def is_retriable(error: BaseException) -> bool:
    """True when trying again later may work (the broker is away, a leader moves...)."""
    return isinstance(translate(error, ""), BrokerUnavailable)
