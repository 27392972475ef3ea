"""broadway_py: back-pressured, supervised message-broker pipelines for asyncio."""

from broadway_py.acknowledger import (
    Acknowledger,
    CallerAcknowledger,
    Failed,
    NoopAcknowledger,
)
from broadway_py.decoding import Decode
from broadway_py.errors import (
    BroadwayError,
    ConfigurationError,
    PipelineFailed,
    PipelineNotRunning,
    PoisonMessageError,
)
from broadway_py.handler import Handler
from broadway_py.message import BatchInfo, Message, Status
from broadway_py.options import (
    BatcherOptions,
    ProcessorOptions,
    ProducerOptions,
    RateLimitOptions,
    ShutdownOptions,
    SupervisorOptions,
)
from broadway_py.pipeline import Pipeline
from broadway_py.producer import Producer
from broadway_py.retry import Decision, RetryPolicy
from broadway_py.telemetry import Telemetry

__version__ = "0.1.0"

__all__ = [
    "Acknowledger",
    "BatchInfo",
    "BatcherOptions",
    "BroadwayError",
    "CallerAcknowledger",
    "ConfigurationError",
    "Decision",
    "Decode",
    "Failed",
    "Handler",
    "Message",
    "NoopAcknowledger",
    "Pipeline",
    "PipelineFailed",
    "PipelineNotRunning",
    "PoisonMessageError",
    "ProcessorOptions",
    "Producer",
    "ProducerOptions",
    "RateLimitOptions",
    "RetryPolicy",
    "ShutdownOptions",
    "Status",
    "SupervisorOptions",
    "Telemetry",
    "__version__",
]
