"""``invoices.handler:handle``: accepts every invoice."""

from __future__ import annotations

from broadway_py import Message


def handle(message: Message) -> Message:
    return message
