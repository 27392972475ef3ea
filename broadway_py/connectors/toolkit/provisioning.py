"""What ``broadway-py provision`` asks of a connector, and what it tells back. Stdlib only.

A connector's ``provision`` module has one coroutine,
``provision(options, needs) -> list[Finding]``: it creates what the pipeline
reads and writes on its broker when it is missing (never changing what is
there), and says of each thing whether it was created, already there, or there
but not as the options ask (a mismatch, left as it is).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

Outcome = Literal["created", "exists", "ensured", "mismatch"]
"""``ensured``: made sure of, where the broker cannot tell whether it was there
(an AMQP binding: binding again is harmless and says nothing)."""

_WORDS: dict[Outcome, str] = {
    "created": "created",
    "exists": "already there",
    "ensured": "ensured",
    "mismatch": "MISMATCH",
}


@dataclass(frozen=True)
class Needs:
    """What the pipeline, beyond the connector's options, needs on the broker."""

    retry_delays: tuple[float, float] | None
    """The shortest and longest delay a retry waits (None: failures are never retried)."""
    dead_letter: bool
    """Whether failed messages are dead-lettered (else they are discarded)."""


@dataclass(frozen=True)
class Finding:
    """One thing on the broker: ``created: topic 'orders' (3 partitions)``."""

    outcome: Outcome
    kind: str
    name: str
    detail: str = ""

    def __str__(self) -> str:
        tail = f" ({self.detail})" if self.detail else ""
        return f"{_WORDS[self.outcome]}: {self.kind} {self.name!r}{tail}"


Provision = Callable[[Any, Needs], Awaitable[list[Finding]]]
"""A connector's ``provision(options, needs)``."""


def text_values(value: Any) -> Any:
    """A mapping's scalar values as the broker takes them, text (a pydantic ``before`` step).

    ``retention.ms: 604800000`` or ``ContentBasedDeduplication: true`` in YAML are a
    number and a boolean; Kafka topic configs and SQS queue attributes are text.
    """
    if not isinstance(value, dict):
        return value
    return {
        key: (str(item).lower() if isinstance(item, bool) else str(item))
        if isinstance(item, str | int | float | bool)
        else item
        for key, item in value.items()
    }
