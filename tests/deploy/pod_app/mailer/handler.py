"""``mailer.handler:send``: accepts every message, sends nothing."""

from __future__ import annotations

from broadway_py import Message


def send(message: Message) -> Message:
    return message
