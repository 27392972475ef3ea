"""botocore's exceptions, translated into broadway_py.errors: the one place that knows them.

- refused credentials (or none found, or a missing profile) -> AuthenticationFailed
- a queue that does not exist -> DestinationNotFound, naming the queue
- an endpoint that cannot be reached, timeouts, throttling, 5xx -> BrokerUnavailable
  (the connector retries those with :class:`Backoff`)
- anything else -> ConnectorError

Also :class:`Backoff`, the capped, jittered exponential delay between retries.
"""

from __future__ import annotations

import asyncio
import random
import re
from typing import Any

import aiohttp
from botocore import exceptions as boto  # type: ignore[import-untyped, unused-ignore]

from broadway_py.errors import (
    AuthenticationFailed,
    BrokerUnavailable,
    ConnectorError,
    DestinationNotFound,
)
from broadway_py.retry import exponential_backoff

AUTH_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "AuthFailure",
        "ExpiredToken",
        "ExpiredTokenException",
        "IncompleteSignature",
        "InvalidAccessKeyId",
        "InvalidClientTokenId",
        "InvalidSecurity",
        "MissingAuthenticationToken",
        "SignatureDoesNotMatch",
        "UnrecognizedClientException",
    }
)
NOT_FOUND_CODES = frozenset(
    {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist", "NonExistentQueue"}
)
TRANSIENT_CODES = frozenset(
    {
        "InternalError",
        "InternalFailure",
        "KmsThrottled",
        "RequestThrottled",
        "ServiceUnavailable",
        "Throttling",
        "ThrottlingException",
        "RequestTimeout",
        "OverLimit",
    }
)
_CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    boto.EndpointConnectionError,
    boto.ConnectionError,
    boto.ConnectionClosedError,
    boto.ReadTimeoutError,
    boto.ConnectTimeoutError,
    boto.HTTPClientError,
    aiohttp.ClientError,
    OSError,
    asyncio.TimeoutError,
)
_CREDENTIAL_ERRORS: tuple[type[BaseException], ...] = (
    boto.NoCredentialsError,
    boto.PartialCredentialsError,
    boto.ProfileNotFound,
    boto.CredentialRetrievalError,
    boto.TokenRetrievalError,
)
_XML_CODE = re.compile(r"<Code>([^<]+)</Code>")
_XML_MESSAGE = re.compile(r"<Message>([^<]+)</Message>")


def error_code(error: BaseException) -> tuple[str, str, int]:
    """(code, message, http status) of a botocore ClientError; ("", str, 0) otherwise."""
    response: Any = getattr(error, "response", None)
    if not isinstance(response, dict):
        return "", str(error), 0
    detail = response.get("Error") or {}
    code = str(detail.get("Code") or "")
    message = str(detail.get("Message") or "")
    status = int((response.get("ResponseMetadata") or {}).get("HTTPStatusCode") or 0)
    # Some servers answer a JSON-protocol call with an XML error body.
    if message.lstrip().startswith("<"):
        found_code = _XML_CODE.search(message)
        found_message = _XML_MESSAGE.search(message)
        if found_code:
            if code.isdigit() and not status:
                status = int(code)
            code = found_code.group(1)
        message = found_message.group(1) if found_message else message
    if code.isdigit() and not status:
        status = int(code)
    return code, message, status


def translate(error: BaseException, queue: str, operation: str = "") -> ConnectorError:
    """The broadway_py error for a client failure on ``queue`` (a name or URL)."""
    if isinstance(error, ConnectorError):
        return error
    doing = f" ({operation})" if operation else ""
    if isinstance(error, _CREDENTIAL_ERRORS):
        return _chain(AuthenticationFailed(f"SQS credentials{doing}: {error}"), error)
    if isinstance(error, boto.NoRegionError):
        return _chain(ConnectorError(f"SQS{doing}: {error}: set the region option"), error)
    if isinstance(error, _CONNECTION_ERRORS):
        text = str(error) or type(error).__name__
        return _chain(BrokerUnavailable(f"SQS endpoint unreachable{doing}: {text}"), error)
    if isinstance(error, boto.ClientError):
        code, message, status = error_code(error)
        detail = f"{code}: {message}" if message else code
        if code in NOT_FOUND_CODES:
            return _chain(
                DestinationNotFound(f"SQS queue {queue!r} does not exist{doing}: {detail}"), error
            )
        if code in AUTH_CODES or status in (401, 403):
            return _chain(
                AuthenticationFailed(f"SQS refused the credentials for {queue!r}{doing}: {detail}"),
                error,
            )
        if code in TRANSIENT_CODES or status >= 500 or status == 429:
            return _chain(BrokerUnavailable(f"SQS unavailable{doing}: {detail}"), error)
        return _chain(ConnectorError(f"SQS call failed on {queue!r}{doing}: {detail}"), error)
    text = str(error) or type(error).__name__
    return _chain(ConnectorError(f"SQS call failed on {queue!r}{doing}: {text}"), error)


def _chain(translated: ConnectorError, cause: BaseException) -> ConnectorError:
    translated.__cause__ = cause
    return translated


class Backoff:
    """Capped exponential delays with jitter: ``min_delay * 2**n``, each in [50%, 100%]."""

    def __init__(
        self, min_delay: float, max_delay: float, rng: random.Random | None = None
    ) -> None:
        self.min_delay = min_delay
        self.max_delay = max_delay
        self.attempts = 0
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        self.attempts += 1
        ceiling = exponential_backoff(self.attempts, self.min_delay, self.max_delay)
        return ceiling * (0.5 + 0.5 * self._rng.random())

    def reset(self) -> None:
        self.attempts = 0
