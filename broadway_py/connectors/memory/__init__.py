"""The embedded in-memory broker and the synthetic generator producer."""

from broadway_py.connectors.memory.broker import DEFAULT_BROKER, MemoryBroker
from broadway_py.connectors.memory.generator import GeneratedCounts, GeneratorProducer
from broadway_py.connectors.memory.producer import MemoryProducer
from broadway_py.connectors.memory.queue import DeadLetter, MemoryQueue, QueueStats

__all__ = [
    "DEFAULT_BROKER",
    "DeadLetter",
    "GeneratedCounts",
    "GeneratorProducer",
    "MemoryBroker",
    "MemoryProducer",
    "MemoryQueue",
    "QueueStats",
]
