"""``orders.handler:OrderHandler``: accepts every order, writes each batch nowhere."""

from __future__ import annotations

from broadway_py import BatchInfo, Handler, Message


class OrderHandler(Handler):
    def handle_message(self, message: Message) -> Message:
        return message

    def handle_batch(self, batcher: str, messages: list[Message], info: BatchInfo) -> list[Message]:
        return messages
