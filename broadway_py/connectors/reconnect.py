"""ReconnectOptions: the backoff between connection attempts, shared by connectors.

Not a connector itself: any connector may import it (see the import contracts).
"""

from __future__ import annotations

import random

from pydantic import BaseModel, ConfigDict, Field, model_validator

from broadway_py.retry import exponential_backoff


class ReconnectOptions(BaseModel):
    """Backoff between connection attempts: exponential, capped, jittered."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_delay: float = Field(default=0.5, gt=0, description="Seconds before the first retry.")
    max_delay: float = Field(default=30.0, gt=0, description="Longest wait between attempts.")
    multiplier: float = Field(
        default=2.0, ge=1, description="Growth of the wait per failed attempt."
    )
    jitter: float = Field(
        default=0.2, ge=0, le=1, description="Random spread of each wait (0.2 is +-20%)."
    )

    @model_validator(mode="after")
    def _ordered(self) -> ReconnectOptions:
        if self.max_delay < self.min_delay:
            raise ValueError("reconnect.max_delay must be at least reconnect.min_delay")
        return self

    def delay(self, failures: int, rng: random.Random | None = None) -> float:
        """The wait after ``failures`` consecutive failed attempts (1 = the first)."""
        return exponential_backoff(
            failures, self.min_delay, self.max_delay, self.multiplier, self.jitter, rng
        )
