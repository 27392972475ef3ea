"""``broadway-py provision``: create what a pipeline reads and writes on its broker.

The connector does the broker's part (``<connector>/provision.py``, found
through the registry); this module tells it what the pipeline file needs
beyond the connector's options (are failures retried, and after which delays;
are they dead-lettered) and prints one line per thing: created, already there,
or a mismatch, which is never changed. The same runs at start when the
producer section says ``provision: true``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from broadway_py.config import LoadedConfig
from broadway_py.connectors import registry
from broadway_py.connectors.toolkit.provisioning import Finding, Needs
from broadway_py.retry import exponential_backoff


class _Highest(random.Random):
    """Draws the top of every jitter range: the longest delay a retry can wait."""

    def random(self) -> float:
        return 1.0


def needs_of(loaded: LoadedConfig) -> Needs:
    """What the pipeline's retry section asks of the broker."""
    retry = loaded.spec.retry
    delays: tuple[float, float] | None = None
    if retry.max_attempts > 1:
        longest = exponential_backoff(
            retry.max_attempts - 1,
            retry.min_delay,
            retry.max_delay,
            retry.multiplier,
            retry.jitter,
            _Highest(),
        )
        delays = (retry.min_delay, max(longest, retry.min_delay))
    return Needs(retry_delays=delays, dead_letter=retry.dead_letter)


@dataclass(frozen=True)
class Provisioned:
    """What a provision run found."""

    findings: list[Finding]
    applicable: bool
    """False for a connector with nothing to provision (memory, generator)."""

    @property
    def mismatches(self) -> list[Finding]:
        return [f for f in self.findings if f.outcome == "mismatch"]


async def provision(loaded: LoadedConfig, emit: Callable[[str], None]) -> Provisioned:
    """Provision the pipeline's broker, emitting one line per finding."""
    connector = loaded.connector.name
    provisioner = registry.provisioner(connector)
    if provisioner is None:
        emit(f"{connector} producer: nothing to provision")
        return Provisioned([], applicable=False)
    findings = await provisioner(loaded.options, needs_of(loaded))
    for finding in findings:
        emit(str(finding))
    return Provisioned(findings, applicable=True)
