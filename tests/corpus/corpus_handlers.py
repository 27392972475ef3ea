"""Handlers for the malformed-pipeline corpus: one that works, and classes that fail to be made."""

from __future__ import annotations

from broadway_py import Handler, Message


def handle(message: Message) -> Message:
    return message


class ExitsInInit(Handler):
    def __init__(self) -> None:
        raise SystemExit(3)

    def handle_message(self, message: Message) -> Message:
        return message


class InterruptedInInit(Handler):
    def __init__(self) -> None:
        raise KeyboardInterrupt

    def handle_message(self, message: Message) -> Message:
        return message


class LongErrorInInit(Handler):
    def __init__(self) -> None:
        raise RuntimeError("amqp://user:init-secret@host/ " + "x" * 5000)

    def handle_message(self, message: Message) -> Message:
        return message
