"""The bearer token that admin requests must carry, when the operator sets one. Pure.

The token comes from the environment variable :data:`ADMIN_TOKEN_ENV`
(``BROADWAY_ADMIN_TOKEN``; the helm chart fills it from a Secret). When it is
set, an admin request without ``Authorization: Bearer <token>`` is answered
401. The comparison takes the same time whatever the guess
(:func:`hmac.compare_digest`), and the token is never logged nor shown.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

ADMIN_TOKEN_ENV = "BROADWAY_ADMIN_TOKEN"


def admin_token_from(env: Mapping[str, str]) -> str | None:
    """The token from the environment; None when unset. Raises ValueError when set but blank."""
    value = env.get(ADMIN_TOKEN_ENV)
    if value is None:
        return None
    token = value.strip()
    if not token:
        raise ValueError(
            f"{ADMIN_TOKEN_ENV} is set but empty: set a token, or unset it to leave the "
            "admin endpoint without authentication"
        )
    return token


def bearer_matches(authorization: str | None, token: str) -> bool:
    """Whether an ``Authorization`` header value is ``Bearer <token>``."""
    if not authorization:
        return False
    scheme, _, given = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode("utf-8"), token.encode("utf-8"))
