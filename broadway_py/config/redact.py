"""Redaction of secrets wherever a config is printed (``broadway-py echo``, error messages).

A value is hidden when it is a pydantic ``SecretStr`` / ``SecretBytes``, or when
its key's name says it is secret (it contains password, passwd, secret, token,
credential, api_key, apikey, access_key, private_key or sasl_plain_password...),
and a URL's password (``amqp://user:secret@host``) is hidden wherever it appears.
Config error messages use the same definition, extended by the schema: a field
typed ``SecretStr`` / ``SecretBytes`` is secret whatever its name
(:func:`broadway_py.config.validation.is_secret_path`).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import SecretBytes, SecretStr

REDACTED = "<redacted>"

_SECRET_WORDS = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "credential",
    "api_key",
    "apikey",
    "access_key",
    "private_key",
    "signing_key",
    "encryption_key",
    "session_key",
)
_URL_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^\s'\"]*)@")
"""A URL's userinfo: greedy up to the last '@' of the word, so a password holding
an unescaped '/', ':' or '@' is hidden whole."""


def is_secret_key(name: str) -> bool:
    """Whether a key named ``name`` holds a secret."""
    lowered = name.lower().replace("-", "_")
    return any(word in lowered for word in _SECRET_WORDS)


def redact_url(text: str) -> str:
    """``amqp://guest:guest@host/`` -> ``amqp://guest:<redacted>@host/``.

    A userinfo without ``:`` (``https://TOKEN@host``) is hidden whole.
    """

    def hide(match: re.Match[str]) -> str:
        user, colon, _ = match["userinfo"].partition(":")
        return f"{match['scheme']}{user}:{REDACTED}@" if colon else f"{match['scheme']}{REDACTED}@"

    return _URL_USERINFO.sub(hide, text)


def redact(value: Any, key: str = "") -> Any:
    """A copy of ``value`` (plain data) with every secret replaced by ``<redacted>``."""
    if isinstance(value, SecretStr | SecretBytes):
        return REDACTED
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v, key) for v in value]
    if key and is_secret_key(key) and value not in (None, "", False):
        return REDACTED
    if isinstance(value, str):
        return redact_url(value)
    return value
