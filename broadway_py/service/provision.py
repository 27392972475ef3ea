"""``broadway-py provision``: create what a pipeline reads and writes on its broker.

The connector does the broker's part (``<connector>/provision.py``, found
through the registry); this module tells it what the pipeline file needs
beyond the connector's options (are failures retried, and after which delays;
are they dead-lettered) and prints one line per thing: created, already there,
or a mismatch, which is never changed. A file with several producers has each
of them provisioned. The same runs at start for each producer whose section
says ``provision: true``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from broadway_py.config import LoadedConfig
from broadway_py.connectors import registry
from broadway_py.connectors.toolkit.provisioning import Finding, Needs
from broadway_py.retry import exponential_backoff
from broadway_py.service.producer_choice import ChosenProducer, every_producer


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


async def provision(
    loaded: LoadedConfig,
    emit: Callable[[str], None],
    producers: Sequence[ChosenProducer] | None = None,
) -> Provisioned:
    """Provision the brokers of ``producers`` (default: every producer), a line per finding.

    With several producers, each one's findings follow a line naming it.
    """
    chosen = every_producer(loaded) if producers is None else list(producers)
    needs = needs_of(loaded)
    findings: list[Finding] = []
    applicable = False
    for producer in chosen:
        connector = producer.connector.name
        if len(chosen) > 1:
            emit(f"{producer.label} ({connector}):")
        provisioner = registry.provisioner(connector)
        if provisioner is None:
            emit(f"{connector} producer: nothing to provision")
            continue
        applicable = True
        found = await provisioner(producer.options, needs)
        for finding in found:
            emit(str(finding))
        findings.extend(found)
    return Provisioned(findings, applicable=applicable)
