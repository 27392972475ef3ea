"""``broadway-py provision`` for Kafka: the source, retry and dead-letter topics.

A missing topic is created with ``topic_partitions`` partitions (a source
topic: 1 by default; the retry and dead-letter topics: as many as the largest
source topic), ``replication_factor`` and ``topic_configs``. An existing topic
is never changed: fewer partitions than asked, or another replication factor
than a positive ``replication_factor``, is a mismatch. (Topic configs are
applied at creation only: they are not compared, as not every broker describes
them.)
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic  # type: ignore[import-untyped]
from aiokafka.errors import for_code  # type: ignore[import-untyped]

from broadway_py.connectors.kafka.errors import TopicAlreadyExistsError, translate
from broadway_py.connectors.kafka.options import Options
from broadway_py.connectors.toolkit.provisioning import Finding, Needs


def new_topic(name: str, partitions: int, replication_factor: int, configs: dict[str, str]) -> Any:
    """The NewTopic to create; ``replication_factor`` -1 asks for the broker's default."""
    topic = NewTopic(name, partitions, max(replication_factor, 1), topic_configs=dict(configs))
    # -1 asks for the broker's default replication (KIP-464); aiokafka's
    # NewTopic refuses it without an explicit replica assignment.
    topic.replication_factor = replication_factor
    return topic


def wanted_topics(options: Options, needs: Needs) -> tuple[list[str], list[str]]:
    """(source topics, side topics): what the pipeline reads, and where it writes failures."""
    side: list[str] = []
    if needs.retry_delays is not None and not options.ordered:
        side.append(options.retry_topic_name)
    if needs.dead_letter:
        side.append(options.dead_letter_topic_name)
    return list(options.topics), side


async def provision(options: Options, needs: Needs) -> list[Finding]:
    """Create the missing topics; report the others (see the module's docstring)."""
    where = f"Kafka at {options.servers}"
    admin = AIOKafkaAdminClient(**options.admin_kwargs())
    try:
        try:
            await admin.start()
            described = await admin.describe_topics()
        except Exception as error:
            raise translate(error, f"cannot list the topics of {where}") from None
        existing = {t["topic"]: t["partitions"] for t in described if not t["error_code"]}
        sources, side = wanted_topics(options, needs)
        findings: list[Finding] = []
        missing: dict[str, int] = {}
        for name in sources:
            _check(options, name, existing, options.topic_partitions or 1, findings, missing)
        largest = max(
            [len(existing[t]) for t in sources if t in existing]
            + [missing.get(t, 1) for t in sources]
        )
        for name in side:
            _check(options, name, existing, options.topic_partitions or largest, findings, missing)
        if missing:
            findings.extend(await _create(admin, options, missing, where))
        return findings
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(admin.close(), 5)


def _check(
    options: Options,
    name: str,
    existing: dict[str, list[dict[str, Any]]],
    partitions: int,
    findings: list[Finding],
    missing: dict[str, int],
) -> None:
    found = existing.get(name)
    if found is None:
        missing[name] = partitions
        return
    problems = []
    if len(found) < partitions:
        problems.append(f"{len(found)} partitions, {partitions} asked")
    replicas = {len(p.get("replicas", ())) for p in found}
    factor = options.replication_factor
    if factor > 0 and replicas and replicas != {factor}:
        shown = "/".join(str(r) for r in sorted(replicas))
        problems.append(f"replication factor {shown}, {factor} asked")
    if problems:
        findings.append(Finding("mismatch", "topic", name, "; ".join(problems)))
    else:
        findings.append(Finding("exists", "topic", name, f"{len(found)} partitions"))


async def _create(
    admin: Any, options: Options, missing: dict[str, int], where: str
) -> list[Finding]:
    requested = [
        new_topic(name, count, options.replication_factor, options.topic_configs)
        for name, count in missing.items()
    ]
    try:
        response = await admin.create_topics(requested)
    except Exception as error:
        raise translate(error, f"cannot create topics {list(missing)} on {where}") from None
    findings = []
    for name, code, *rest in response.topic_errors:
        count = missing[name]
        if code == 0:
            findings.append(Finding("created", "topic", name, f"{count} partitions"))
            continue
        refused = for_code(code)(rest[0] if rest else "")
        if isinstance(refused, TopicAlreadyExistsError):  # made meanwhile, by someone else
            findings.append(Finding("exists", "topic", name))
            continue
        raise translate(refused, f"cannot create topic {name!r} on {where}")
    return findings
