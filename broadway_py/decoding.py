"""The producer's ``decode`` step: message data from bytes to what the handler wants.

Connectors deliver ``message.data`` as bytes. :class:`Decode` says what the
handler sees instead: ``json`` parses it (a dict, a list...), ``text`` decodes
it as UTF-8, ``bytes`` leaves it; ``Decode("json", model=Order)`` parses and
validates it into an ``Order`` in one step, with the model's own JSON parser
(``Order.model_validate_json(data)``: a pydantic model, or any class with that
class method), no dict in between. A payload that does not decode, or does not
validate, raises :class:`~broadway_py.errors.DecodeError`, a poison message
error: the message is dead-lettered (or discarded) with a short reason (the
validation errors' count and first places, never the payload), never retried,
and the pipeline goes on.

Standard library only, like the rest of core (the model is duck-typed), but
for :mod:`broadway_py.json_parse`, which parses JSON with pydantic-core when
it is there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol, get_args

from broadway_py.errors import ConfigurationError, DecodeError
from broadway_py.json_parse import loads
from broadway_py.message import Message

Format = Literal["json", "text", "bytes"]
FORMATS: tuple[str, ...] = get_args(Format)
Decoder = Callable[[Message], Message]

MAX_REASON = 300
"""Longest reason a validation failure gives (the first errors, each cut short)."""
_SHOWN_ERRORS = 3
_MAX_ERROR = 100


class BodyModel(Protocol):
    """What ``Decode(model=...)`` takes: a class that parses JSON into itself.

    A pydantic model is one. Its ``model_validate_json`` raises a ``ValueError``
    (pydantic's ``ValidationError``) when the payload does not fit.
    """

    def model_validate_json(self, json_data: str | bytes | bytearray, /) -> Any: ...


@dataclass(frozen=True)
class Decode:
    """How the producer decodes message data before the handler sees it.

    ``Decode("json")``, ``Decode("text")``, ``Decode("bytes")`` (as delivered),
    or ``Decode("json", model=Order)``: ``message.data`` is then an ``Order``.
    """

    format: Format = "json"
    model: BodyModel | None = None

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ConfigurationError(
                "producer.decode",
                f"format must be one of {', '.join(FORMATS)}, not {self.format!r}",
            )
        if self.model is None:
            return
        if self.format != "json":
            raise ConfigurationError(
                "producer.decode", f"a model needs format 'json', not {self.format!r}"
            )
        if not callable(getattr(self.model, "model_validate_json", None)):
            raise ConfigurationError(
                "producer.decode",
                f"model {self.model!r} has no model_validate_json: pass a pydantic model class",
            )

    def __str__(self) -> str:
        """``json``, or ``json as Order``: how status and graphs show it."""
        if self.model is None:
            return self.format
        return f"{self.format} as {model_name(self.model)}"

    def decoder(self) -> Decoder | None:
        """The step that decodes one message in place (None: nothing to do)."""
        if self.model is not None:
            return _model_decoder(self.model)
        return _DECODERS[self.format]


def model_name(model: object) -> str:
    return str(getattr(model, "__qualname__", None) or repr(model))


def decode_json(message: Message) -> Message:
    try:
        message.data = loads(message.data)  # json.loads's answer, quicker (see json_parse)
    except UnicodeDecodeError as error:
        raise DecodeError(f"payload is not valid JSON: not UTF-8 (byte {error.start})") from None
    except ValueError as error:
        raise DecodeError(f"payload is not valid JSON: {error}") from None
    except TypeError:
        raise DecodeError(
            f"payload is not valid JSON: expected bytes or text, not {type(message.data).__name__}"
        ) from None
    return message


def decode_text(message: Message) -> Message:
    data = message.data
    if isinstance(data, bytes | bytearray | memoryview):
        try:
            message.data = bytes(data).decode("utf-8")
        except UnicodeDecodeError as error:
            raise DecodeError(
                f"payload is not UTF-8 text: {error.reason} at byte {error.start}"
            ) from None
    elif not isinstance(data, str):
        raise DecodeError(f"payload is not text: expected bytes, not {type(data).__name__}")
    return message


_DECODERS: dict[str, Decoder | None] = {
    "json": decode_json,
    "text": decode_text,
    "bytes": None,
}


def _model_decoder(model: BodyModel) -> Decoder:
    validate = model.model_validate_json
    name = model_name(model)

    def decode_model(message: Message) -> Message:
        try:
            message.data = validate(message.data)
        except ValueError as error:
            data = message.data
            if isinstance(data, memoryview):  # not a JSON input to pydantic: once more as bytes
                message.data = bytes(data)
                return decode_model(message)
            raise DecodeError(validation_reason(name, error, data)) from None
        return message

    decode_model.__qualname__ = decode_model.__name__ = f"decode json as {name}"
    return decode_model


def validation_reason(name: str, error: ValueError, data: Any) -> str:
    """A short reason for a payload that is not a valid ``name``; never the payload itself.

    From a pydantic ``ValidationError``: the error count and the first errors'
    places and messages (``payload is not a valid Order: 2 validation errors:
    customer: Field required; total: Input should be a valid number...``).
    """
    if not isinstance(data, bytes | bytearray | str):
        return f"payload is not valid JSON: expected bytes or text, not {type(data).__name__}"
    errors = _errors_of(error)
    if errors is None:  # not pydantic: its message, cut short
        return _cut(f"payload is not a valid {name}: {type(error).__name__}: {error}", MAX_REASON)
    if len(errors) == 1 and errors[0].get("type") == "json_invalid":
        detail = str(errors[0].get("msg", "")).removeprefix("Invalid JSON: ")
        return _cut(f"payload is not valid JSON: {detail}", MAX_REASON)
    count = len(errors)
    shown = "; ".join(
        _cut(f"{_place(item.get('loc', ()))}: {item.get('msg', '')}", _MAX_ERROR)
        for item in errors[:_SHOWN_ERRORS]
    )
    more = f"; and {count - _SHOWN_ERRORS} more" if count > _SHOWN_ERRORS else ""
    plural = "" if count == 1 else "s"
    return _cut(
        f"payload is not a valid {name}: {count} validation error{plural}: {shown}{more}",
        MAX_REASON,
    )


def _errors_of(error: ValueError) -> list[dict[str, Any]] | None:
    """pydantic's error list, without the input values; None for another kind of error."""
    errors = getattr(error, "errors", None)
    if not callable(errors):
        return None
    try:
        found = errors(include_url=False, include_input=False, include_context=False)
    except Exception:  # not pydantic's signature: say nothing of it
        return None
    if not isinstance(found, list) or not found:
        return None
    return [item for item in found if isinstance(item, dict)] or None


def _place(loc: Any) -> str:
    """``items.0.sku``; ``(body)`` for the payload as a whole."""
    if not isinstance(loc, tuple | list) or not loc:
        return "(body)"
    return ".".join(str(part) for part in loc)


def _cut(text: str, most: int) -> str:
    return text if len(text) <= most else text[: most - 3] + "..."


def then(
    decoder: Decoder | None, transformer: Callable[[Message], Message] | None
) -> Decoder | None:
    """``decoder`` then ``transformer``, as one step (either may be absent)."""
    if decoder is None:
        return transformer
    if transformer is None:
        return decoder
    first = decoder
    user = transformer

    def decode_then_transform(message: Message) -> Message:
        return user(first(message))

    decode_then_transform.__qualname__ = decode_then_transform.__name__ = (
        f"{first.__qualname__}, then {model_name(user)}"
    )
    return decode_then_transform
