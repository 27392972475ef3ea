"""The exceptions broadway_py raises.

::

    BroadwayError
     +-- ConfigurationError        an option out of range, named (also a ValueError)
     +-- PipelineError
     |    +-- PipelineFailed        the supervisor gave up; run() raises it
     |    +-- PipelineNotRunning    test_message() and friends on a stopped pipeline
     +-- PoisonMessageError         a message that can never succeed: never retried
     |    +-- DecodeError           the payload does not decode
     +-- InvalidHandlerResult      a handler returned something that is not a Message
     +-- ConnectorError            a connector's client failure, translated
          +-- BrokerUnavailable     cannot reach the broker now: retried with backoff
          +-- AuthenticationFailed  wrong credentials: not retried
          +-- DestinationNotFound   the queue / topic does not exist: not retried
"""

from __future__ import annotations


class BroadwayError(Exception):
    """Base of every exception broadway_py raises."""


class ConfigurationError(BroadwayError, ValueError):
    """An option is out of range or inconsistent; ``option`` names it."""

    def __init__(self, option: str, problem: str) -> None:
        super().__init__(f"{option}: {problem}")
        self.option = option
        self.problem = problem


class PipelineError(BroadwayError):
    """A pipeline cannot do what was asked."""


class PipelineFailed(PipelineError):
    """The supervisor exceeded its restart intensity and stopped the pipeline."""


class PipelineNotRunning(PipelineError):
    """The pipeline is not running (not started yet, draining or stopped)."""


class PoisonMessageError(BroadwayError):
    """A message that can never be processed; the retry policy never retries it."""


class DecodeError(PoisonMessageError):
    """The payload does not decode as the producer's ``decode`` option says."""


class InvalidHandlerResult(BroadwayError, TypeError):
    """A handler returned something that is not a Message."""


class ConnectorError(BroadwayError):
    """A broker client failed; connectors translate their client's errors to these."""


class BrokerUnavailable(ConnectorError):
    """The broker cannot be reached now; the connector retries with backoff."""


class AuthenticationFailed(ConnectorError):
    """The broker refused the credentials."""


class DestinationNotFound(ConnectorError):
    """The queue or topic named in the options does not exist."""
