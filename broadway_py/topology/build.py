"""Builds one run of a pipeline: the context its stages share and its supervised stage groups.

:class:`~broadway_py.pipeline.Pipeline` holds the settings and the lifecycle
(start, drain, stop); this module turns the settings into channels, holdings
and stage factories, once per ``start()``. Every place a message can wait
(a channel, a stage's holding, a batch being filled) is registered with
:class:`~broadway_py.topology.in_flight.InFlight` here, where it is made, so
that a drain, ``/status`` and an abandoned stop count each message once.
"""

from __future__ import annotations

from collections.abc import Sequence

from broadway_py.message import Message
from broadway_py.producer import Producer
from broadway_py.topology.batch_processor_stage import run_batch_processor
from broadway_py.topology.batcher import Batch, BatchAccumulator
from broadway_py.topology.batcher_stage import run_batcher
from broadway_py.topology.channel import Channel
from broadway_py.topology.context import BATCHERS, PROCESSORS, PRODUCERS, Settings, StageContext
from broadway_py.topology.dispatch import ProcessorDispatch
from broadway_py.topology.holding import Holding
from broadway_py.topology.in_flight import Place
from broadway_py.topology.processor_stage import run_processor
from broadway_py.topology.producer_stage import run_producer
from broadway_py.topology.supervisor import GroupSpec, StageFactory
from broadway_py.topology.terminator import Terminator


def build_context(settings: Settings) -> StageContext:
    """The terminator, the processors' dispatch and the batchers' inboxes of one run."""
    terminator = Terminator(
        settings.retry, settings.callbacks, settings.in_flight, settings.telemetry
    )
    batcher_inboxes: dict[str, Channel[list[Message]]] = {
        name: Channel(b.batch_size * max(b.concurrency, 2))
        for name, b in settings.batcher_options.items()
    }
    dispatch = ProcessorDispatch(settings.processor_options)
    return StageContext(settings, terminator, dispatch, batcher_inboxes)


def build_groups(context: StageContext, producers: Sequence[Producer]) -> list[GroupSpec]:
    """The stage groups, with every place they keep messages registered as in flight."""
    in_flight = context.settings.in_flight

    def producer_stage(index: int, producer: Producer) -> StageFactory:
        holding = Holding()
        in_flight.register(PRODUCERS, holding)
        return lambda: run_producer(index, producer, context, holding)

    def processor_stage(index: int, inbox: Channel[list[Message]]) -> StageFactory:
        holding = Holding()
        in_flight.register(PROCESSORS, holding)
        return lambda: run_processor(index, inbox, context, holding)

    for channel in context.dispatch.channels:
        in_flight.register(PROCESSORS, channel)
    groups = [
        GroupSpec(
            "producer",
            [(f"producer_{i}", producer_stage(i, p)) for i, p in enumerate(producers)],
            close_inputs=lambda: None,
        ),
        GroupSpec(
            "processor",
            [
                (f"processor_{i}", processor_stage(i, inbox))
                for i, inbox in enumerate(context.dispatch.inboxes)
            ],
            close_inputs=context.dispatch.close,
        ),
    ]
    if context.batcher_inboxes:
        groups.append(_batcher_group(context))
    return groups


def _batcher_group(context: StageContext) -> GroupSpec:
    in_flight = context.settings.in_flight
    stages: list[tuple[str, StageFactory]] = []
    for name, options in context.settings.batcher_options.items():
        inbox = context.batcher_inboxes[name]
        # Channels count messages: room for two full batches per batch processor.
        per_lane = 2 * options.batch_size
        if options.partition_by is None:
            shared: Channel[Batch] = Channel(per_lane * options.concurrency)
            outboxes = [shared] * options.concurrency
        else:
            outboxes = [Channel(per_lane) for _ in range(options.concurrency)]
        accumulator = BatchAccumulator(options)
        holding = Holding()
        places: list[Place] = [inbox, accumulator, holding, *dict.fromkeys(outboxes)]
        for place in places:
            in_flight.register(BATCHERS, place)
        stages.append((f"batcher_{name}", _batcher_factory(accumulator, inbox, outboxes, holding)))
        for i, outbox in enumerate(outboxes):
            stages.append(
                (f"batch_processor_{name}_{i}", _batch_processor_factory(outbox, context))
            )

    def close() -> None:
        for inbox in context.batcher_inboxes.values():
            inbox.close()

    return GroupSpec("batcher", stages, close_inputs=close)


def _batcher_factory(
    accumulator: BatchAccumulator,
    inbox: Channel[list[Message]],
    outboxes: list[Channel[Batch]],
    holding: Holding,
) -> StageFactory:
    return lambda: run_batcher(accumulator, inbox, outboxes, holding)


def _batch_processor_factory(inbox: Channel[Batch], context: StageContext) -> StageFactory:
    holding = Holding()
    context.settings.in_flight.register(BATCHERS, holding)
    return lambda: run_batch_processor(inbox, context, holding)
