"""A typed order body, for ``decode: {format: json, model: examples.orders_model:Order}``.

With this decode, each message's JSON is parsed and validated into an
:class:`Order` before the handler sees it (``message.data`` is the Order); a
body that is not JSON or not a valid Order is dead-lettered with the
validation errors as its reason, never retried.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from broadway_py import Message


class Line(BaseModel):
    sku: str = Field(min_length=1)
    quantity: int = Field(gt=0)
    price: float = Field(ge=0)


class Order(BaseModel):
    id: int
    customer: str = Field(min_length=1)
    lines: list[Line] = Field(min_length=1)
    note: str = ""

    @property
    def total(self) -> float:
        return sum(line.quantity * line.price for line in self.lines)


def handle(message: Message) -> Message:
    """A handler of typed orders: no validation by hand, ``message.data`` is an Order."""
    order: Order = message.data
    return message.put_batch_key(order.customer)
