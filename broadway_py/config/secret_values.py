"""The literal secrets a running service knows: from its config and its environment.

Shapes (``password=...``, a URL's password) are masked wherever they appear,
but a secret can also turn up bare: a client that prints its settings, an
exception that quotes a value. So the service collects the values themselves
and masks them on sight (:class:`~broadway_py.config.secret_text.SecretMasker`).

A value is a secret when the config layer says so
(:func:`~broadway_py.config.redact.is_secret_key`, ``SecretStr``), and a URL's
password is one too (also in its percent-decoded form). From the environment,
every variable whose name is secret-named counts (``AWS_SECRET_ACCESS_KEY``,
``AWS_SESSION_TOKEN``, ``BROADWAY_ADMIN_TOKEN``, ``KAFKA_PASSWORD`` ...), unless
its value is a switch (``true``, ``false``, ``none``...): a flag such as
``SECRETS_ENABLED=true`` is no secret, and masking every ``true`` would garble logs.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import BaseModel, SecretBytes, SecretStr

from broadway_py.config.loader import LoadedConfig
from broadway_py.config.redact import is_secret_key

_SWITCHES = frozenset(
    {"true", "false", "yes", "no", "on", "off", "none", "null", "enabled", "disabled"}
)


def config_secrets(loaded: LoadedConfig) -> set[str]:
    """Every secret value in a loaded config (spec and connector options)."""
    values: set[str] = set()
    for model in (loaded.spec, loaded.options):
        values.update(model_secrets(model))
    return values


def model_secrets(model: BaseModel) -> set[str]:
    """Every secret value in a pydantic model."""
    return set(_walk(model.model_dump(mode="python"), ""))


def environment_secrets(env: Mapping[str, str]) -> set[str]:
    """The values of secret-named environment variables (and the passwords of URLs in any)."""
    values: set[str] = set()
    for name, value in env.items():
        if is_secret_key(name) and value and value.strip().lower() not in _SWITCHES:
            values.add(value)
        values.update(url_passwords(value))
    return values


def url_passwords(text: str) -> set[str]:
    """The password of ``text`` when it is a URL with one: as written, and percent-decoded."""
    if "://" not in text or "@" not in text:
        return set()
    try:
        password = urllib.parse.urlsplit(text.strip()).password
    except ValueError:
        return set()
    if not password:
        return set()
    return {password, urllib.parse.unquote(password)}


def _walk(value: Any, key: str) -> Iterator[str]:
    if isinstance(value, SecretStr):
        secret = value.get_secret_value()
        yield secret
        yield from url_passwords(secret)
    elif isinstance(value, SecretBytes):
        yield value.get_secret_value().decode("utf-8", "replace")
    elif isinstance(value, Mapping):
        for child_key, child in value.items():
            yield from _walk(child, str(child_key))
    elif isinstance(value, list | tuple | set | frozenset):
        for child in value:
            yield from _walk(child, key)
    elif isinstance(value, str):
        if key and is_secret_key(key) and value:
            yield value
        yield from url_passwords(value)
    elif isinstance(value, bytes) and key and is_secret_key(key):
        yield value.decode("utf-8", "replace")
