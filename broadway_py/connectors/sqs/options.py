"""Options of the SQS connector: which queue, how to receive, what to do with outcomes.

A pydantic model, validated once when the pipeline is built. Credentials are
never options: they come from the standard AWS chain (environment, shared
files, SSO, container or instance roles), optionally from a named ``profile``.
"""

from __future__ import annotations

import logging
import math
import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from broadway_py.connectors.toolkit.provisioning import text_values
from broadway_py.connectors.toolkit.reconnect import ReconnectOptions
from broadway_py.schema.checks import checked
from broadway_py.schema.fields import Seconds, SecondsOrZero

log = logging.getLogger("broadway_py.connectors.sqs")

REDRIVE = "redrive"
MAX_VISIBILITY = 43_200  # 12 hours: the longest SQS lets a message stay invisible
Visibility = Annotated[int, Field(ge=1, le=MAX_VISIBILITY)]
"""A visibility timeout in whole seconds, as SQS takes it."""
_MAX_SECONDS = 7 * 24 * 3600.0
"""The connector's own durations are at most a week."""
_AWS_QUEUE_URL = re.compile(r"^https?://sqs[.-]([a-z0-9-]+)\.amazonaws\.com", re.IGNORECASE)
_QUEUE_NAME = re.compile(r"[A-Za-z0-9_-]{1,75}(?:\.fifo)?\Z|[A-Za-z0-9_-]{76,80}\Z")
"""An SQS queue name: 1-80 of letters, digits, '-' and '_', '.fifo' ending a FIFO queue's."""
QUEUE_NAME_RULE = (
    "1-80 characters of letters, digits, '-' and '_', ending in '.fifo' for a FIFO queue"
)


class RedriveOptions(BaseModel):
    """The source queue's RedrivePolicy, as `broadway-py provision` sets it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    queue: str = Field(
        description="Name of the dead-letter queue SQS moves a message to after "
        "max_receive_count receives (FIFO, ending in .fifo, for a FIFO source queue)."
    )
    max_receive_count: int = Field(
        default=5, ge=1, le=1000, description="Receives before SQS moves a message there."
    )


class Options(BaseModel):
    """Options of ``producer: {sqs: {...}}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    queue_url: str | None = Field(
        default=None, description="URL of the source queue. Give this or queue_name, not both."
    )
    queue_name: str | None = Field(
        default=None, description="Name of the source queue, resolved to its URL with GetQueueUrl."
    )
    region: str | None = Field(
        default=None,
        description=(
            "AWS region. Default: the region in an AWS queue_url, else the standard chain "
            "(AWS_REGION / AWS_DEFAULT_REGION, the profile's region)."
        ),
    )
    endpoint_url: str | None = Field(
        default=None, description="Endpoint of an SQS-compatible server (a local one in tests)."
    )
    profile: str | None = Field(
        default=None,
        description=(
            "Named profile of the shared AWS config/credentials files. Default: the "
            "standard credentials chain (environment, files, SSO, container and instance roles)."
        ),
    )
    wait_time_seconds: int = Field(
        default=20,
        ge=0,
        le=20,
        description="Long-polling wait of each ReceiveMessage call (0-20 s). A drain cancels it.",
    )
    max_number_of_messages: int = Field(
        default=10,
        ge=1,
        le=10,
        description=(
            "Most messages one ReceiveMessage call asks for (1-10); a call never asks for "
            "more than the pipeline's demand."
        ),
    )
    max_concurrent_receives: int | None = Field(
        default=None,
        ge=1,
        le=100,
        description=(
            "Most ReceiveMessage calls in flight at once. Default: enough to cover the "
            "pipeline's demand, 10 at most."
        ),
    )
    visibility_timeout: Visibility | None = Field(
        default=None,
        description=(
            "Visibility timeout (seconds) asked for on each receive. Default: the queue's own. "
            "The heartbeat keeps messages that take longer invisible."
        ),
    )
    attribute_names: list[str] = Field(
        default_factory=list,
        description=(
            "Message system attributes to receive (e.g. SentTimestamp, or All), in "
            "metadata['attributes']. ApproximateReceiveCount and MessageGroupId are always "
            "received."
        ),
    )
    message_attribute_names: list[str] = Field(
        default_factory=lambda: ["All"],
        description="Message attributes to receive, in metadata['message_attributes'].",
    )
    fifo: bool | None = Field(
        default=None,
        description=(
            "Whether the queue is FIFO: its MessageGroupId becomes the ordering key of the "
            "processors and batchers. Default: the queue name ends with .fifo."
        ),
    )
    dead_letter: str | None = Field(
        default=None,
        description=(
            "Where dead-lettered messages go: a queue name or URL (the message is sent there "
            "with its failure reason in message attributes, then deleted), or 'redrive' to "
            "leave it to the queue's RedrivePolicy. Default: 'redrive' when the queue has a "
            "RedrivePolicy; else the message is left in the queue (it comes back after the "
            "visibility timeout, as SQS does without a dead-letter queue) and a warning is "
            "logged at start."
        ),
    )
    redrive: RedriveOptions | None = Field(
        default=None,
        description=(
            "The RedrivePolicy `broadway-py provision` gives a source queue it creates (and "
            "checks on one that exists): {queue: orders-dlq, max_receive_count: 5}; the "
            "dead-letter queue is created too. Pair it with dead_letter: redrive."
        ),
    )
    queue_attributes: dict[str, str] = Field(
        default_factory=dict,
        max_length=100,
        description=(
            "Attributes `broadway-py provision` gives the source queue it creates (and checks "
            "on one that exists): VisibilityTimeout, MessageRetentionPeriod, "
            "ContentBasedDeduplication... FifoQueue and RedrivePolicy follow from fifo and "
            "redrive."
        ),
    )
    release_on_drain: bool = Field(
        default=True,
        description=(
            "When the producer closes, make what it received and never acknowledged (messages "
            "prefetched but not started, or cut short by a kill) visible again at once "
            "(visibility 0) instead of after their visibility timeout."
        ),
    )
    heartbeat: bool = Field(
        default=True,
        description=(
            "Extend the visibility of messages still in flight near the end of their "
            "visibility timeout, so a slow handler never causes a second delivery."
        ),
    )
    heartbeat_margin: float | None = Field(
        default=None,
        gt=0,
        le=MAX_VISIBILITY,
        description=(
            "Seconds before a message's visibility ends at which the heartbeat extends it. "
            "Default: half the visibility timeout."
        ),
    )
    heartbeat_extension: Visibility | None = Field(
        default=None,
        description="Seconds of visibility each extension gives. Default: the visibility timeout.",
    )
    backlog_interval: SecondsOrZero = Field(
        default=15.0,
        description=(
            "Seconds between queue-depth reports (ApproximateNumberOfMessages, as the "
            "broadway_backlog_messages gauge); 0 turns them off."
        ),
    )
    connect_timeout: Seconds = Field(
        default=5.0,
        description="Seconds to wait for a TCP connection to the endpoint.",
    )
    reconnect: ReconnectOptions = Field(
        default_factory=ReconnectOptions,
        description="Backoff between attempts to reach an unreachable endpoint.",
    )
    reconnect_min_delay: float | None = Field(
        default=None,
        gt=0,
        le=_MAX_SECONDS,
        description="Deprecated spelling of reconnect.min_delay (still accepted, with a warning).",
    )
    reconnect_max_delay: float | None = Field(
        default=None,
        gt=0,
        le=_MAX_SECONDS,
        description="Deprecated spelling of reconnect.max_delay (still accepted, with a warning).",
    )

    @field_validator(
        "queue_url", "queue_name", "region", "endpoint_url", "profile", "dead_letter", mode="before"
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # ``${SQS_ENDPOINT:}`` in a pipeline file gives "": the option is not set.
        return None if isinstance(value, str) and not value.strip() else value

    _attributes_as_text = field_validator("queue_attributes", mode="before")(text_values)

    @model_validator(mode="after")
    def _check(self) -> Options:
        # Every failed check is reported, one line each (the config layer splits them).
        found: list[str] = []
        if (self.queue_url is None) == (self.queue_name is None):
            found.append("give exactly one of queue_url and queue_name")
        found.extend(_adopt_old_reconnect_keys(self))
        found.extend(self._dead_letter_problems())
        if (
            self.heartbeat_margin is not None
            and self.visibility_timeout is not None
            and self.heartbeat_margin >= self.visibility_timeout
        ):
            found.append("heartbeat_margin must be below visibility_timeout")
        return checked(self, found)

    def _dead_letter_problems(self) -> list[str]:
        """The dead-letter queues' names are ones SQS accepts, FIFO for a FIFO source."""
        found: list[str] = []
        if self.dead_letter is not None and self.dead_letter != REDRIVE:
            found.extend(self._queue_problems("dead_letter", self.dead_letter, f"nor {REDRIVE!r}"))
        if self.redrive is not None:
            found.extend(self._queue_problems("redrive", self.redrive.queue, ""))
        for key in ("FifoQueue", "RedrivePolicy"):
            if key in self.queue_attributes:
                found.append(f"queue_attributes {key} follows from fifo and redrive; remove it")
        return found

    def _queue_problems(self, field: str, name_or_url: str, alternative: str) -> list[str]:
        name = queue_name_of(name_or_url)
        if not _QUEUE_NAME.match(name):
            tail = f", {alternative}" if alternative else ""
            return [f"{field} {name!r} is not a valid SQS queue name ({QUEUE_NAME_RULE}){tail}"]
        if self.is_fifo != name.endswith(".fifo"):
            kind = "FIFO" if self.is_fifo else "standard"
            want = "ends" if self.is_fifo else "does not end"
            return [
                f"{field} {name!r}: the source queue is {kind}, so its dead-letter queue "
                f"must be {kind} too (a name that {want} in '.fifo')"
            ]
        return []

    # -- derived values ------------------------------------------------------------

    @property
    def queue(self) -> str:
        """The queue's name (or URL) as given: for log lines and errors."""
        return self.queue_name or self.queue_url or "?"

    @property
    def queue_label(self) -> str:
        """The queue's name, for telemetry (the last part of its URL)."""
        return queue_name_of(self.queue)

    @property
    def is_fifo(self) -> bool:
        if self.fifo is not None:
            return self.fifo
        return self.queue_label.endswith(".fifo")

    @property
    def dead_letter_mode(self) -> Literal["queue", "redrive", "auto"]:
        if self.dead_letter is None:
            return "auto"
        return "redrive" if self.dead_letter == REDRIVE else "queue"

    @property
    def effective_region(self) -> str | None:
        if self.region:
            return self.region
        if self.queue_url:
            found = _AWS_QUEUE_URL.match(self.queue_url)
            if found:
                return found.group(1)
        return None

    def system_attribute_names(self) -> list[str]:
        names = {"ApproximateReceiveCount", "MessageGroupId", *self.attribute_names}
        return ["All"] if "All" in names else sorted(names)

    def receives_for(self, demand: int) -> int:
        """How many ReceiveMessage calls may be in flight for a pipeline demand."""
        if self.max_concurrent_receives is not None:
            return self.max_concurrent_receives
        return max(1, min(10, math.ceil(demand / self.max_number_of_messages)))

    def heartbeat_timing(self, visibility_timeout: int) -> tuple[float, int]:
        """(margin, extension) in seconds for a queue with this visibility timeout."""
        extension = self.heartbeat_extension or visibility_timeout
        margin = self.heartbeat_margin
        if margin is None:
            margin = min(visibility_timeout, extension) / 2
        return margin, extension


_OLD_RECONNECT_KEYS = {"reconnect_min_delay": "min_delay", "reconnect_max_delay": "max_delay"}
"""SQS's flat reconnect options (before ``reconnect:``) -> their ``reconnect`` field."""


def _adopt_old_reconnect_keys(options: Options) -> list[str]:
    """Move the old flat keys into ``options.reconnect``, warning once each; the problems.

    Run by the model's own validator, once per validation (a pipeline file's
    load), so each deprecated key given costs one log line there.
    """
    given = {
        old: value for old in _OLD_RECONNECT_KEYS if (value := getattr(options, old)) is not None
    }
    if not given:
        return []
    if "reconnect" in options.model_fields_set:
        return [
            f"{old} is the old spelling of reconnect.{_OLD_RECONNECT_KEYS[old]}; "
            "give only reconnect"
            for old in given
        ]
    update = {_OLD_RECONNECT_KEYS[old]: value for old, value in given.items()}
    merged = options.reconnect.model_copy(update=update)
    if merged.max_delay < merged.min_delay:
        return ["reconnect_max_delay must be at least reconnect_min_delay"]
    for old, value in given.items():
        log.warning(
            "SQS option %s is deprecated: write reconnect: {%s: %g} instead",
            old,
            _OLD_RECONNECT_KEYS[old],
            value,
        )
    # Validation is still under way: the frozen model takes its final reconnect here.
    options.__dict__["reconnect"] = merged
    return []


def queue_name_of(name_or_url: str) -> str:
    """``https://host/123/orders`` -> ``orders``; a name stays as it is."""
    return name_or_url.rstrip("/").rsplit("/", 1)[-1]
