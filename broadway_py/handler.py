"""The Handler base class: the user's code that a pipeline runs.

Subclass :class:`Handler` and override ``handle_message`` (required) and, if you
need them, ``prepare_messages``, ``handle_batch`` and ``handle_failed``. Each
may be a plain function or an ``async def``; the pipeline finds out which once,
when it is built. A plain function ``def f(message) -> Message`` can stand in
for a Handler whose only callback is ``handle_message``.

- ``handle_message(message)``: runs in a processor. Return the message (maybe
  changed with ``put_data``, ``put_batcher``, ``failed``...). Raising fails
  this message only; the stage keeps running.
- ``prepare_messages(messages)``: runs in a processor before
  ``handle_message``, over the whole chunk it took (to pre-load data in one
  round trip). Return the messages, same count and order.
- ``handle_batch(batcher, messages, info)``: runs in a batch processor. Return
  the messages (any may be marked failed) or None to keep them as they are.
  Raising fails the whole batch.
- ``handle_failed(messages)``: sees every failed message, with its retry
  decision (``message.decision``), just before it is acknowledged. As in
  Broadway, it returns the messages, maybe changed, and what it returns
  replaces them: the same messages, in any order (each is acknowledged
  exactly once), or None to keep them as they are. It may replace a decision
  (say, ``Decision.discard()`` for a known-harmless failure); the
  acknowledger carries out what it finds there, and a message left with no
  decision gets the retry policy's again. Raising, or returning other
  messages, is logged, and the messages are acknowledged with the decisions
  they hold.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from broadway_py.message import BatchInfo, Message

MessageCallback = Callable[[Message], "Message | Awaitable[Message]"]


class Handler:
    """Base class for pipeline handlers."""

    def handle_message(self, message: Message) -> Message | Awaitable[Message]:
        raise NotImplementedError(f"{type(self).__name__} must implement handle_message")

    def prepare_messages(self, messages: list[Message]) -> list[Message] | Awaitable[list[Message]]:
        return messages

    def handle_batch(
        self, batcher: str, messages: list[Message], info: BatchInfo
    ) -> list[Message] | Awaitable[list[Message] | None] | None:
        return messages

    def handle_failed(
        self, messages: list[Message]
    ) -> list[Message] | Awaitable[list[Message] | None] | None:
        return messages


class FunctionHandler(Handler):
    """A Handler made of one ``handle_message`` function."""

    def __init__(self, function: Callable[[Message], Any]) -> None:
        self.function = function
        self.handle_message = function  # type: ignore[method-assign,assignment]

    def __repr__(self) -> str:
        return f"FunctionHandler({getattr(self.function, '__qualname__', self.function)!r})"


def as_handler(handler: Handler | Callable[[Message], Any]) -> Handler:
    """A Handler for ``handler``: itself, or a FunctionHandler around a function."""
    if isinstance(handler, Handler):
        if type(handler).handle_message is Handler.handle_message and not isinstance(
            handler, FunctionHandler
        ):
            raise TypeError(f"{type(handler).__name__} must implement handle_message")
        return handler
    if isinstance(handler, type):
        raise TypeError(f"pass an instance of {handler.__name__}, not the class itself")
    if callable(handler):
        return FunctionHandler(handler)
    raise TypeError(f"a handler must be a Handler or a function, not {type(handler).__name__}")


def overrides(handler: Handler, name: str) -> bool:
    """Whether ``handler`` provides its own ``name`` callback."""
    return getattr(type(handler), name) is not getattr(Handler, name)
