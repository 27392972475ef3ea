"""A logging filter that masks secrets in every record a handler writes.

Broker clients log what they send: at DEBUG, botocore prints each request's
headers (the session token, the ``Authorization`` header with the access key
id), and an exception's text can quote a URL with its password. A filter on a
logger sees only that logger's own records, so :class:`RedactionFilter` sits on
the *handler* (:func:`~broadway_py.service.logs.configure_logging` puts it
there): every record written, from any logger and at any level, passes it.

It formats the record once (message with its arguments, traceback, stack),
masks the text with a :class:`~broadway_py.config.secret_text.SecretMasker`,
and puts the masked text back (``msg`` = the text, ``args`` emptied,
``exc_text`` set), so every handler and formatter after it sees only masked
text. ``extra`` fields are masked too (a secret-named one entirely; one that
is not a string becomes its masked text when that hid something). A record
below the handler's level never reaches the filter: nothing is spent on what
is not written.
"""

from __future__ import annotations

import logging

from broadway_py.config.redact import REDACTED, is_secret_key
from broadway_py.config.secret_text import SecretMasker
from broadway_py.service.log_fields import extra_fields

_TRACEBACKS = logging.Formatter()


class RedactionFilter(logging.Filter):
    """Masks secrets in a record's message, traceback, stack and extra fields."""

    def __init__(self, masker: SecretMasker) -> None:
        super().__init__()
        self.masker = masker

    def filter(self, record: logging.LogRecord) -> bool:
        mask = self.masker.mask
        record.msg = mask(_message(record))
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = _TRACEBACKS.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask(record.exc_text)
        if record.stack_info:
            record.stack_info = mask(record.stack_info)
        for name, value in extra_fields(record).items():
            if value is None:
                continue
            if is_secret_key(name) and value not in ("", False):
                setattr(record, name, REDACTED)
            elif not isinstance(value, bool | int | float):
                text = str(value)
                masked = mask(text)
                if masked != text or isinstance(value, str):
                    setattr(record, name, masked)
        return True


def _message(record: logging.LogRecord) -> str:
    """The record's text; a record whose arguments do not fit its format still says something."""
    try:
        return record.getMessage()
    except Exception as error:  # a bad format must not raise into the caller's code
        return f"{record.msg!r} % {record.args!r} (could not format: {type(error).__name__})"
