"""The handler and transformers that the pipeline files of examples/testing name."""

from __future__ import annotations

from broadway_py import BatchInfo, Handler, Message


def default_currency(message: Message) -> Message:
    """The file's transformer: runs after ``decode: json``, before the handler."""
    message.data.setdefault("currency", "EUR")
    return message


def as_refund(message: Message) -> Message:
    """intake_pipeline.yaml's refunds producer's transformer."""
    message.data["kind"] = "refund"
    return message


class Orders(Handler):
    def handle_message(self, message: Message) -> Message:
        order = message.data  # a dict: the file says `decode: json`
        if order["total"] < 0:
            raise ValueError(f"order {order['id']} has a negative total")
        return message.put_batcher("db").put_batch_key(order["customer"])

    async def handle_batch(
        self, batcher: str, messages: list[Message], info: BatchInfo
    ) -> list[Message]:
        return messages  # a real pipeline saves the rows here, one round trip per batch
