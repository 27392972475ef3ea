"""``broadway-py provision`` for RabbitMQ: exchanges, queue, bindings, delay and DLQ queues.

What is declared, and with which arguments, is what the connector declares as
it runs, from the same definitions: the queue as ``declare`` says (durable, no
arguments, when ``declare`` is omitted), each binding's exchange when it has an
``exchange_type``, the bindings, the delay queues a retry of the pipeline's
delays waits in (:mod:`.naming`, :func:`.delays.delay_arguments`), and the
dead-letter queue (strategy publish). Each queue and exchange is first looked
up (a passive declare): one there is "already there" when a declare with the
asked arguments is accepted, a mismatch when the broker refuses it
(PRECONDITION_FAILED); nothing that exists is changed. A binding is "ensured":
AMQP cannot tell whether it was there.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aio_pika.abc import AbstractConnection
from aiormq import exceptions as amqp
from aiormq.abc import AbstractChannel as RawChannel

from broadway_py.connectors.rabbitmq import naming
from broadway_py.connectors.rabbitmq.connection import connect
from broadway_py.connectors.rabbitmq.delays import at_least_once_supported, delay_arguments
from broadway_py.connectors.rabbitmq.errors import describe, translate
from broadway_py.connectors.rabbitmq.options import DeclareOptions, Options
from broadway_py.connectors.rabbitmq.session import _server_properties
from broadway_py.connectors.toolkit.provisioning import Finding, Needs


def delay_buckets(options: Options, needs: Needs) -> list[int | None]:
    """The delay-queue buckets (ms) retries of the pipeline's delays wait in; [None]: one queue."""
    if options.on_failure != "decision" or needs.retry_delays is None:
        return []
    shortest, longest = needs.retry_delays
    if longest <= 0:
        return []  # a retry without delay is a nack with requeue
    if not options.retry.bucketed:
        return [None]
    bucket = naming.bucket_ms(naming.delay_ms(shortest or longest))
    last = naming.bucket_ms(naming.delay_ms(longest))
    buckets: list[int | None] = []
    while bucket <= last:
        buckets.append(bucket)
        bucket *= 2
    return buckets


class _Admin:
    """A raw channel that is opened again after a refused declare closed it."""

    def __init__(self, connection: AbstractConnection) -> None:
        self.connection = connection
        self.channel: RawChannel | None = None

    async def get(self) -> RawChannel:
        if self.channel is None or self.channel.is_closed:
            wrapper = await self.connection.channel()
            self.channel = await wrapper.get_underlay_channel()
        return self.channel


async def provision(options: Options, needs: Needs) -> list[Finding]:
    """Declare what is missing; report the rest (see the module's docstring)."""
    connection = await connect(options)
    try:
        return await _provision(options, needs, connection)
    except amqp.AMQPError as error:
        raise translate(error, options) from error
    finally:
        await connection.close()


async def _provision(
    options: Options, needs: Needs, connection: AbstractConnection
) -> list[Finding]:
    admin = _Admin(connection)
    findings: list[Finding] = []
    source = options.queue
    for binding in options.bindings:
        name = binding.exchange
        if binding.exchange_type is None:
            findings.append(await _exchange(admin, name, None))
            continue
        findings.append(await _exchange(admin, name, binding.exchange_type))
    declare = options.declare or DeclareOptions()
    arguments = dict(declare.arguments)
    findings.append(await _queue(admin, source, arguments, declare.durable, declare.auto_delete))
    for binding in options.bindings:
        if any(f.outcome == "mismatch" and f.name == binding.exchange for f in findings):
            continue
        for key in binding.routing_keys:
            channel = await admin.get()
            await channel.queue_bind(
                source, binding.exchange, routing_key=key, arguments=binding.arguments or None
            )
            findings.append(
                Finding("ensured", "binding", source, f"from {binding.exchange!r}, key {key!r}")
            )
    at_least_once = at_least_once_supported(_server_properties(connection))
    for bucket in delay_buckets(options, needs):
        name = naming.delay_queue(options.retry, source, bucket or 1)
        findings.append(await _queue(admin, name, delay_arguments(source, bucket, at_least_once)))
    dead = options.dead_letter
    if options.on_failure == "decision" and needs.dead_letter and dead.strategy == "publish":
        findings.append(await _queue(admin, naming.dead_letter_queue(dead, source), {}))
    return findings


async def _exists(admin: _Admin, look: Callable[[RawChannel], Awaitable[Any]]) -> bool:
    try:
        await look(await admin.get())
    except amqp.ChannelNotFoundEntity:
        return False
    return True


async def _queue(
    admin: _Admin,
    name: str,
    arguments: dict[str, Any],
    durable: bool = True,
    auto_delete: bool = False,
) -> Finding:
    there = await _exists(admin, lambda channel: channel.queue_declare(name, passive=True))
    try:
        channel = await admin.get()
        await channel.queue_declare(
            name, durable=durable, auto_delete=auto_delete, arguments=arguments or None
        )
    except amqp.ChannelPreconditionFailed as error:
        return Finding("mismatch", "queue", name, describe(error))
    if there:
        return Finding("exists", "queue", name)
    return Finding("created", "queue", name, ", ".join(f"{k} {v}" for k, v in arguments.items()))


async def _exchange(admin: _Admin, name: str, kind: str | None) -> Finding:
    there = await _exists(admin, lambda channel: channel.exchange_declare(name, passive=True))
    if kind is None:
        if there:
            return Finding("exists", "exchange", name)
        return Finding("mismatch", "exchange", name, "missing, and no exchange_type to declare it")
    try:
        channel = await admin.get()
        await channel.exchange_declare(name, exchange_type=kind, durable=True)
    except amqp.ChannelPreconditionFailed as error:
        return Finding("mismatch", "exchange", name, describe(error))
    return Finding("exists" if there else "created", "exchange", name, kind)
