"""``broadway-py provision`` for SQS: the source queue and its dead-letter queues.

The dead-letter queues come first (the source queue's RedrivePolicy names one
by its ARN): the ``dead_letter`` queue, when it is a queue, and ``redrive.queue``.
Each is created FIFO for a FIFO source. The source queue is created with
``queue_attributes``, FifoQueue when FIFO, and the RedrivePolicy ``redrive``
asks for. An existing queue is never changed: an attribute the options ask for
with another value there is a mismatch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from broadway_py.connectors.sqs.client import aiobotocore_client_factory
from broadway_py.connectors.sqs.errors import NOT_FOUND_CODES, error_code, translate
from broadway_py.connectors.sqs.options import REDRIVE, Options, queue_name_of
from broadway_py.connectors.toolkit.provisioning import Finding, Needs

_REDRIVE_POLICY = "RedrivePolicy"


@dataclass(frozen=True)
class _Wanted:
    name: str
    attributes: dict[str, str]
    redrive_to: str | None = None  # the dead-letter queue named in the RedrivePolicy
    max_receive_count: int = 0


def wanted_queues(options: Options, needs: Needs) -> list[_Wanted]:
    """The queues to have, dead-letter queues first."""
    fifo = {"FifoQueue": "true"} if options.is_fifo else {}
    wanted: list[_Wanted] = []
    dead = options.dead_letter
    if needs.dead_letter and dead is not None and dead != REDRIVE:
        wanted.append(_Wanted(queue_name_of(dead), dict(fifo)))
    redrive = options.redrive
    if redrive is not None and all(w.name != redrive.queue for w in wanted):
        wanted.append(_Wanted(redrive.queue, dict(fifo)))
    source = _Wanted(
        options.queue_label,
        {**options.queue_attributes, **fifo},
        redrive.queue if redrive is not None else None,
        redrive.max_receive_count if redrive is not None else 0,
    )
    return [*wanted, source]


async def provision(options: Options, needs: Needs) -> list[Finding]:
    """Create the missing queues; report the others (see the module's docstring)."""
    findings: list[Finding] = []
    async with aiobotocore_client_factory(options, 2)() as client:
        arns: dict[str, str] = {}
        for wanted in wanted_queues(options, needs):
            try:
                findings.append(await _ensure(client, wanted, arns))
            except Exception as error:
                raise translate(error, wanted.name, "provision") from None
    return findings


async def _ensure(client: Any, wanted: _Wanted, arns: dict[str, str]) -> Finding:
    attributes = dict(wanted.attributes)
    if wanted.redrive_to is not None:
        policy = {
            "deadLetterTargetArn": arns[wanted.redrive_to],
            "maxReceiveCount": wanted.max_receive_count,
        }
        attributes[_REDRIVE_POLICY] = json.dumps(policy)
    url = await _url(client, wanted.name)
    if url is None:
        created = await client.create_queue(QueueName=wanted.name, Attributes=attributes)
        arns[wanted.name] = await _arn(client, str(created["QueueUrl"]))
        return Finding("created", "queue", wanted.name, _shown(wanted))
    response = await client.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
    there: dict[str, str] = response.get("Attributes") or {}
    arns[wanted.name] = there.get("QueueArn", "")
    differ = [
        f"{key} is {there.get(key, '(unset)')}, {value} asked"
        for key, value in attributes.items()
        if key != _REDRIVE_POLICY and there.get(key) != value
    ]
    if wanted.redrive_to is not None:
        differ.extend(_redrive_problems(there.get(_REDRIVE_POLICY), wanted))
    if differ:
        return Finding("mismatch", "queue", wanted.name, "; ".join(differ))
    return Finding("exists", "queue", wanted.name)


def _redrive_problems(raw: str | None, wanted: _Wanted) -> list[str]:
    asked = f"{wanted.redrive_to} after {wanted.max_receive_count} receives"
    if not raw:
        return [f"no RedrivePolicy, {asked} asked"]
    policy = json.loads(raw)
    target = queue_name_of(str(policy.get("deadLetterTargetArn", "")).replace(":", "/"))
    count = int(policy.get("maxReceiveCount", 0))
    if target != wanted.redrive_to or count != wanted.max_receive_count:
        return [f"RedrivePolicy sends to {target} after {count} receives, {asked} asked"]
    return []


async def _url(client: Any, name: str) -> str | None:
    try:
        response = await client.get_queue_url(QueueName=name)
    except Exception as error:
        if error_code(error)[0] in NOT_FOUND_CODES:
            return None
        raise
    return str(response["QueueUrl"])


async def _arn(client: Any, url: str) -> str:
    response = await client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return str((response.get("Attributes") or {}).get("QueueArn", ""))


def _shown(wanted: _Wanted) -> str:
    shown = [f"{key} {value}" for key, value in wanted.attributes.items()]
    if wanted.redrive_to is not None:
        shown.append(f"redrive to {wanted.redrive_to} after {wanted.max_receive_count} receives")
    return ", ".join(shown)
