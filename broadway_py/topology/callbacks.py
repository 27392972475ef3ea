"""The user's handler, resolved once at build time into direct callables.

Whether each callback is ``async`` is found out here, once, so the hot path
never asks. A result that is not what the callback should return is turned
into a failure of the message (or batch) it was about, with a reason that says
what came back; what ``handle_failed`` returns replaces the failed messages
it was given, once it is checked to be those same messages.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from broadway_py.errors import InvalidHandlerResult
from broadway_py.handler import Handler, overrides
from broadway_py.message import Message

log = logging.getLogger("broadway_py.pipeline")


def is_async(function: Callable[..., Any]) -> bool:
    if inspect.iscoroutinefunction(function):
        return True
    call = getattr(function, "__call__", None)  # noqa: B004 - async callable objects
    return call is not None and inspect.iscoroutinefunction(call)


@dataclass(frozen=True, slots=True)
class Callback:
    function: Callable[..., Any]
    is_async: bool

    async def __call__(self, *args: Any) -> Any:
        result = self.function(*args)
        if self.is_async or inspect.isawaitable(result):
            result = await result
        return result


def _optional(handler: Handler, name: str) -> Callback | None:
    if not overrides(handler, name):
        return None
    function = getattr(handler, name)
    return Callback(function, is_async(function))


@dataclass(frozen=True, slots=True)
class Callbacks:
    handler: Handler
    handle_message: Callable[[Message], Any]
    handle_message_is_async: bool
    prepare_messages: Callback | None
    handle_batch: Callback | None
    handle_failed: Callback | None

    @staticmethod
    def of(handler: Handler) -> Callbacks:
        handle_message = handler.handle_message
        return Callbacks(
            handler=handler,
            handle_message=handle_message,
            handle_message_is_async=is_async(handle_message),
            prepare_messages=_optional(handler, "prepare_messages"),
            handle_batch=_optional(handler, "handle_batch"),
            handle_failed=_optional(handler, "handle_failed"),
        )


async def settle_result(message: Message, result: Any) -> Message:
    """The message a handler's unusual result stands for (the slow path).

    Handles a sync function that returned an awaitable, and a result that is
    not a Message, which fails ``message`` with a reason saying what it was.
    """
    if inspect.isawaitable(result):
        result = await result
    return settle_sync_result(message, result)


def settle_sync_result(message: Message, result: Any) -> Message:
    """``result`` if it is a Message, else ``message`` failed with what came back."""
    if isinstance(result, Message):
        return result
    hint = " (did you forget `return message`?)" if result is None else ""
    problem = InvalidHandlerResult(
        f"handle_message returned {type(result).__name__}, not a Message{hint}"
    )
    return message.failed(problem)


def settle_failed_result(given: list[Message], result: Any) -> list[Message]:
    """The failed messages ``handle_failed`` returned, which replace ``given``.

    None keeps ``given`` (the callback changed them in place, or nothing). The
    result must hold the same messages, in any order, since each is acknowledged
    exactly once; anything else is logged and ``given`` is acknowledged as it is.
    """
    if result is None:
        return given
    if (
        isinstance(result, list)
        and len(result) == len(given)
        and all(isinstance(m, Message) for m in result)
        and {id(m) for m in result} == {id(m) for m in given}
    ):
        return result
    log.error(
        "handle_failed must return the %d failed messages it was given (maybe changed), "
        "or None; it returned %s: the messages are acknowledged as they are",
        len(given),
        _describe_result(result),
    )
    return given


def _describe_result(result: Any) -> str:
    if isinstance(result, list):
        return f"a list of {len(result)} other items"
    return type(result).__name__
