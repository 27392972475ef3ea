"""A connector package stand-in for the registry and echo tests (registered by monkeypatch)."""

from __future__ import annotations

from collections.abc import Callable, Hashable

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from broadway_py.connectors.memory import MemoryProducer
from broadway_py.message import Message
from broadway_py.producer import Producer
from tests.support import CrashingProducer

DEMANDS: list[int] = []


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="Broker URL.")
    password: SecretStr | None = Field(default=None, description="Password.")
    sasl_plain_password: str | None = Field(default=None, description="Another secret.")
    routing_key: str = Field(default="orders", description="Not a secret.")
    dead_letter_topic: str | None = Field(default=None, description="Dead letters.")
    queue: str = Field(default="fake", description="The memory queue behind it.")
    crash: bool = Field(default=False, description="Every fetch raises (a broken connector).")


def producer_factory(options: Options, *, demand: int) -> Callable[[], Producer]:
    DEMANDS.append(demand)
    if options.crash:
        return lambda: CrashingProducer(MemoryProducer(options.queue), 0, crashes=1000)
    return MemoryProducer.factory(options.queue)


def partition_of(message: Message) -> Hashable:
    return message.metadata.get("partition")


def ordering_key(options: Options) -> Callable[[Message], Hashable] | None:
    return partition_of
