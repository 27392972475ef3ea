"""Handlers for the example pipelines in this folder (config/demo.yaml and friends).

The demo's orders are generated messages like ``{"order": 41, "amount_cents": 1250}``.
``OrderHandler`` checks each one, sends valid orders to the ``warehouse`` batcher
and writes them in batches. To show what happens to failures it injects two kinds:

- every 997th order fails once with :class:`DownstreamTimeout`, a transient
  error: the retry policy retries it, the generator delivers it again after
  the retry delay and its second attempt succeeds;
- every 20011th order is an :class:`InvalidOrder`, listed in ``never_retry``:
  it is dead-lettered at once, never retried.

The files load this module by name (``handler: demo_handlers:OrderHandler``):
the folder of the pipeline file is searched first.
"""

from __future__ import annotations

from broadway_py import BatchInfo, Handler, Message


class DownstreamTimeout(Exception):
    """A dependency did not answer in time: worth retrying."""


class InvalidOrder(ValueError):
    """The order can never be processed: dead-letter it."""


class OrderHandler(Handler):
    """Validates orders, then batches them into the warehouse."""

    def __init__(self) -> None:
        self.batches = 0
        self.revenue_cents = 0

    def handle_message(self, message: Message) -> Message:
        order = message.data
        number = order["order"]
        if number % 20011 == 5:
            raise InvalidOrder(f"order {number} has no customer")
        if number % 997 == 0 and message.attempt == 1:
            raise DownstreamTimeout(f"pricing service timed out for order {number}")
        return message.put_batcher("warehouse")

    def handle_batch(self, batcher: str, messages: list[Message], info: BatchInfo) -> list[Message]:
        # A real pipeline would write the batch in one round trip here.
        self.batches += 1
        self.revenue_cents += sum(m.data["amount_cents"] for m in messages)
        return messages


def passthrough(message: Message) -> Message:
    """Accepts every message as it is (for config/memory.yaml and config/generator.yaml)."""
    return message
