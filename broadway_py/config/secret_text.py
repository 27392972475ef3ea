"""Masks secrets in free text: log lines, tracebacks, error reasons. Pure.

Config printing (:mod:`broadway_py.config.redact`) knows which field holds a
secret; free text does not come with field names, so :class:`SecretMasker`
looks for the shapes secrets take in what broker clients and exceptions print:

- a URL's password: ``amqp://user:secret@host`` (:func:`~broadway_py.config.redact.redact_url`);
- the value after a secret-named key, in every spelling a client uses:
  ``password=...``, ``"sasl_plain_password": "..."``, ``'X-Amz-Security-Token': b'...'``,
  ``x-amz-security-token:...``, ``X-Amz-Credential=...`` (the names are those of
  :func:`~broadway_py.config.redact.is_secret_key`);
- an ``Authorization`` (or ``Proxy-Authorization``, ``Cookie``) header's whole value,
  a ``Bearer`` token, and AWS access key ids (``AKIA...``, ``ASIA...``);
- every literal secret it was given (the config's secret values, secret-named
  environment variables) of at least :data:`MIN_LITERAL` characters, wherever it
  appears. Shorter values would mask ordinary words; the shapes above still
  catch them where they are labelled.

Masking masked text changes nothing, so a record may pass twice.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from broadway_py.config.redact import REDACTED, is_secret_key, redact_url

MIN_LITERAL = 4
"""Literal secrets shorter than this are masked only where a key or URL labels them."""

_HEADER = re.compile(
    r"""(?P<head>\b(?:proxy-)?authorization|\bcookie|\bset-cookie)"""
    r"""(?P<sep>['"]?\s*[:=]\s*)(?P<value>b?'[^'\n]*'|b?"[^"\n]*"|[^\n]*)""",
    re.IGNORECASE,
)
_BEARER = re.compile(r"\bBearer\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
_AWS_KEY_ID = re.compile(r"\b(?:AKIA|ASIA|AIDA|AROA|AGPA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b")
_KEY = re.compile(r"""(?<![\w.-])(?P<key>[A-Za-z_][\w.-]*)['"]?\s*[:=]\s*""")
_VALUE = re.compile(r"""(?P<quote>b?['"])?(?P<value>(?(quote)[^'"\n]*|[^\s'",;&)}\]>]+))""")


class SecretMasker:
    """``mask(text)``: the text with every secret it recognises replaced by ``<redacted>``."""

    __slots__ = ("_literal", "_literals")

    def __init__(self, literals: Iterable[str] = ()) -> None:
        self._literals: frozenset[str] = frozenset()
        self._literal: re.Pattern[str] | None = None
        self.add(literals)

    @property
    def literals(self) -> frozenset[str]:
        """The literal secrets it masks (long enough to be masked on sight)."""
        return self._literals

    def add(self, literals: Iterable[str]) -> None:
        """Mask these values too from now on (shorter than MIN_LITERAL: ignored)."""
        new = {value for value in literals if len(value) >= MIN_LITERAL} - self._literals
        if not new:
            return
        self._literals = self._literals | new
        # Longest first, so a secret that contains another is masked whole.
        ordered = sorted(self._literals, key=len, reverse=True)
        self._literal = re.compile("|".join(re.escape(value) for value in ordered))

    def mask(self, text: str) -> str:
        if self._literal is not None:
            text = self._literal.sub(REDACTED, text)
        text = redact_url(text)
        text = _HEADER.sub(lambda m: f"{m['head']}{m['sep']}{REDACTED}", text)
        text = _BEARER.sub(f"Bearer {REDACTED}", text)
        text = _AWS_KEY_ID.sub(REDACTED, text)
        return _mask_key_values(text)


def _mask_key_values(text: str) -> str:
    """Mask the value after each secret-named key (a key that is not secret hides nothing)."""
    pieces: list[str] = []
    kept = searched = 0
    while key := _KEY.search(text, searched):
        searched = key.end()
        if not is_secret_key(key["key"]):
            continue
        value = _VALUE.match(text, searched)
        if value is None or not value["value"] or value["value"] == REDACTED:
            continue
        pieces.append(text[kept : value.start("value")])
        pieces.append(REDACTED)
        kept = searched = value.end("value")
    if not pieces:
        return text
    pieces.append(text[kept:])
    return "".join(pieces)
