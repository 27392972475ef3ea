"""A producer stage: asks its producer for messages and hands them on.

Each turn it asks the rate limiter for its demand (the processors'
``max_demand``), fetches at most what was granted, counts what came in as in
flight (and holds it until it is handed on), runs the transformer, and puts
the chunk into the processors' buffer, waiting there while the buffer is
full: that wait is the pipeline's back-pressure. A producer that returns no
messages is finished (or stopped).

With ``acknowledge: on_receive`` each fetched chunk is acknowledged to its
broker first, as successful, one ack call per ack group, and its messages
marked :class:`~broadway_py.acknowledger.AckedOnReceive` so that no later
stage acknowledges them again (docs/delivery.md, "Acknowledge on receipt").
"""

from __future__ import annotations

import asyncio
import logging

from broadway_py.acknowledger import NO_FAILURES, acked_on_receive, group_acks
from broadway_py.message import Message
from broadway_py.producer import Producer
from broadway_py.retry import RetryPolicy
from broadway_py.telemetry import MessagesReceived, RateLimiterWaited
from broadway_py.topology.context import StageContext
from broadway_py.topology.holding import Holding
from broadway_py.topology.transform import transform_messages

log = logging.getLogger("broadway_py.pipeline")


async def run_producer(
    index: int, producer: Producer, context: StageContext, holding: Holding
) -> None:
    demand = context.settings.processor_options.max_demand
    limiter = context.settings.rate_limiter
    transformer = context.settings.producer_options.transform
    telemetry = context.settings.telemetry
    in_flight = context.settings.in_flight
    finish = context.terminator.finish
    clock = asyncio.get_running_loop().time
    on_receive = context.settings.producer_options.acknowledge == "on_receive"
    if on_receive and index == 0 and context.settings.retry != RetryPolicy():
        log.warning(
            "producer.acknowledge is on_receive: the retry settings are not used (a message "
            "is acknowledged when received, so a failed one is only logged and counted)"
        )
    while not context.draining:
        wanted = demand
        if limiter is not None:
            wanted, waited = await limiter.acquire(demand)
            if waited and telemetry.enabled:
                telemetry.emit(RateLimiterWaited(waited))
            if not wanted:
                return  # the limiter was closed: draining
        messages = await producer.fetch(wanted)
        if limiter is not None and len(messages) < wanted:
            limiter.give_back(wanted - len(messages))
        if not messages:
            return
        in_flight.receive(messages, clock(), index)
        holding.hold(messages)
        if on_receive:
            await acknowledge_on_receive(messages)
        if telemetry.enabled:
            telemetry.emit(MessagesReceived(index, len(messages)))
        if transformer is not None:
            messages, failed = transform_messages(messages, transformer)
            if failed:
                holding.hold(messages)
                await finish([], failed, "producer")
        rejected = await context.dispatch.dispatch(messages, holding)
        holding.clear()
        if rejected:
            await finish([], rejected, "producer")


async def acknowledge_on_receive(messages: list[Message]) -> None:
    """Ack ``messages`` to their brokers as successful, then mark them acked.

    One ack call per (acknowledger, ack_ref) group. A raising ack is a crash of
    the stage: the messages still carry their connector's acknowledger, so the
    supervisor settles them as it settles any held message.
    """
    groups = group_acks(messages, ())
    for acknowledger, ack_ref, successful, _ in groups:
        await acknowledger.ack(ack_ref, successful, NO_FAILURES)
    for acknowledger, _, successful, _ in groups:  # one marker per group, not per message
        marker = acked_on_receive(acknowledger)
        for message in successful:
            message.acknowledger = marker
