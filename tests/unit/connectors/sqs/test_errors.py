from __future__ import annotations

import random

import pytest
from botocore.exceptions import (  # type: ignore[import-untyped, unused-ignore]
    NoCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
)

from broadway_py.connectors.sqs.errors import Backoff, translate
from broadway_py.errors import (
    AuthenticationFailed,
    BrokerUnavailable,
    ConnectorError,
    DestinationNotFound,
)
from tests.unit.connectors.sqs.fakes import client_error, unreachable


def test_a_missing_queue_names_the_queue() -> None:
    error = translate(client_error("AWS.SimpleQueueService.NonExistentQueue"), "orders")
    assert isinstance(error, DestinationNotFound)
    assert "'orders' does not exist" in str(error)
    assert isinstance(translate(client_error("QueueDoesNotExist"), "q"), DestinationNotFound)


@pytest.mark.parametrize(
    "code", ["InvalidClientTokenId", "SignatureDoesNotMatch", "AccessDenied", "ExpiredToken"]
)
def test_refused_credentials(code: str) -> None:
    error = translate(client_error(code, "no", 403), "orders")
    assert isinstance(error, AuthenticationFailed)
    assert code in str(error)


def test_an_xml_error_body_with_a_bare_status_is_read() -> None:
    body = (
        "<ErrorResponse><Errors><Error><Code>InvalidClientTokenId</Code>"
        "<Message>The security token included in the request is invalid.</Message>"
        "</Error></Errors></ErrorResponse>"
    )
    error = translate(client_error("403", body, 0), "orders")
    assert isinstance(error, AuthenticationFailed)
    assert "InvalidClientTokenId: The security token" in str(error)


def test_missing_credentials_and_profiles_are_authentication_failures() -> None:
    assert isinstance(translate(NoCredentialsError(), "q"), AuthenticationFailed)
    assert isinstance(translate(ProfileNotFound(profile="x"), "q"), AuthenticationFailed)


def test_unreachable_endpoints_timeouts_and_throttling_are_transient() -> None:
    assert isinstance(translate(unreachable(), "q"), BrokerUnavailable)
    timeout = ReadTimeoutError(endpoint_url="http://x")
    assert isinstance(translate(timeout, "q"), BrokerUnavailable)
    assert isinstance(translate(client_error("ThrottlingException"), "q"), BrokerUnavailable)
    assert isinstance(translate(client_error("Boom", status=503), "q"), BrokerUnavailable)


def test_anything_else_is_a_plain_connector_error_with_its_cause() -> None:
    cause = client_error("InvalidParameterValue", "bad")
    error = translate(cause, "q", "ReceiveMessage")
    assert type(error) is ConnectorError
    assert error.__cause__ is cause
    assert "ReceiveMessage" in str(error)


def test_backoff_doubles_with_jitter_up_to_its_cap() -> None:
    backoff = Backoff(0.5, 4.0, random.Random(7))
    delays = [backoff.next_delay() for _ in range(8)]
    ceilings = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0, 4.0]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert backoff.attempts == 8
    backoff.reset()
    assert backoff.next_delay() <= 0.5
