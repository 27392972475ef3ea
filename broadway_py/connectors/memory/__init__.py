"""The embedded in-memory broker and the synthetic generator producer."""

from broadway_py.connectors.memory.broker import DEFAULT_BROKER, MemoryBroker
from broadway_py.connectors.memory.generator import GeneratedCounts, GeneratorProducer
from broadway_py.connectors.memory.options import (
    GeneratorOptions,
    MemoryOptions,
    generator_ordering_key,
    generator_producer_factory,
    ordering_key,
    producer_factory,
)
from broadway_py.connectors.memory.producer import MemoryProducer
from broadway_py.connectors.memory.queue import DeadLetter, MemoryQueue, QueueStats

Options = MemoryOptions

__all__ = [
    "DEFAULT_BROKER",
    "DeadLetter",
    "GeneratedCounts",
    "GeneratorOptions",
    "GeneratorProducer",
    "MemoryBroker",
    "MemoryOptions",
    "MemoryProducer",
    "MemoryQueue",
    "Options",
    "QueueStats",
    "generator_ordering_key",
    "generator_producer_factory",
    "ordering_key",
    "producer_factory",
]
