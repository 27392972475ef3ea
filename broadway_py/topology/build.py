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
from dataclasses import replace

from broadway_py.message import Message
from broadway_py.options import BatcherOptions
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
from broadway_py.topology.resize import Gate, Lane, Signal, Workers
from broadway_py.topology.supervisor import GroupSpec, StageFactory
from broadway_py.topology.tracing import terminator_for


def build_context(settings: Settings) -> StageContext:
    """The terminator, the processors' dispatch and the batchers' inboxes of one run."""
    terminator = terminator_for(
        settings.retry, settings.callbacks, settings.in_flight, settings.telemetry, settings.tracer
    )
    batcher_inboxes: dict[str, Channel[list[Message]]] = {
        name: Channel(b.batch_size * max(b.concurrency, 2))
        for name, b in settings.batcher_options.items()
    }
    dispatch = ProcessorDispatch(settings.processor_options)
    return StageContext(settings, terminator, dispatch, batcher_inboxes)


def build_groups(
    context: StageContext,
    producers: Sequence[Producer],
    producer_contexts: Sequence[StageContext] = (),
) -> list[GroupSpec]:
    """The stage groups, with every place they keep messages registered as in flight.

    ``producer_contexts`` is the context each producer's stage reads, by
    index (several named producers: each its own producer options); by
    default every stage reads ``context``.
    """
    in_flight = context.settings.in_flight

    def producer_stage(index: int, producer: Producer) -> StageFactory:
        holding = Holding()
        in_flight.register(PRODUCERS, holding)
        own = producer_contexts[index] if producer_contexts else context
        return lambda: run_producer(index, producer, own, holding)

    processors = _processor_workers(context)
    groups = [
        GroupSpec(
            "producer",
            [(f"producer_{i}", producer_stage(i, p)) for i, p in enumerate(producers)],
            close_inputs=lambda: None,
        ),
        GroupSpec(
            "processor",
            processors.stages(),
            close_inputs=context.dispatch.close,
        ),
    ]
    if context.batcher_inboxes:
        groups.append(_batcher_group(context))
    return groups


def _processor_workers(context: StageContext) -> Workers[list[Message]]:
    """The processors, resizable (registers their channels and holdings as in flight)."""
    dispatch = context.dispatch
    options = context.settings.processor_options
    max_demand = options.max_demand

    def stage(index: int, inbox: Lane[list[Message]], holding: Holding) -> StageFactory:
        return lambda: run_processor(index, inbox, context, holding)

    def room_for(count: int) -> tuple[int, int | None]:
        return max_demand * count, replace(options, concurrency=count).low_water

    workers = Workers(
        "processor",
        "processor_",
        PROCESSORS,
        context.settings.in_flight,
        list(dispatch.channels),
        dispatch.key is not None,
        options.concurrency,
        stage,
        room_for,
        on_channels=dispatch.use,
        gate=dispatch.gate,
    )
    context.resizer.processors = workers
    return workers


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
        places: list[Place] = [inbox, accumulator, holding]
        for place in places:
            in_flight.register(BATCHERS, place)
        workers = _batch_processor_workers(context, options, outboxes, accumulator)
        stages.append(
            (
                f"batcher_{name}",
                _batcher_factory(accumulator, inbox, outboxes, holding, workers.gate),
            )
        )
        stages.extend(workers.stages())

    def close() -> None:
        for inbox in context.batcher_inboxes.values():
            inbox.close()

    return GroupSpec("batcher", stages, close_inputs=close)


def _batcher_factory(
    accumulator: BatchAccumulator,
    inbox: Channel[list[Message]],
    outboxes: list[Channel[Batch]],
    holding: Holding,
    gate: Gate,
) -> StageFactory:
    return lambda: run_batcher(accumulator, inbox, outboxes, holding, gate)


def _batch_processor_workers(
    context: StageContext,
    options: BatcherOptions,
    outboxes: list[Channel[Batch]],
    accumulator: BatchAccumulator,
) -> Workers[Batch]:
    """One batcher's batch processors, resizable (their channels and holdings registered).

    A resize with partition_by gives the batcher new ``outboxes`` (changed in
    place: the batcher reads them per batch) and its accumulator new lanes.
    """
    name = options.name
    # Channels count messages: room for two full batches per batch processor.
    per_lane = 2 * options.batch_size

    def stage(index: int, inbox: Lane[Batch], holding: Holding) -> StageFactory:
        return lambda: run_batch_processor(inbox, context, holding)

    def room_for(count: int) -> tuple[int, int | None]:
        return per_lane * count, None

    def use(channels: list[Channel[Batch]]) -> None:
        outboxes[:] = channels
        accumulator.lanes = len(channels)
        accumulator.partition_by = options.partition_by if len(channels) > 1 else None

    inbox = context.batcher_inboxes[name]

    async def wake() -> None:
        await inbox.put([])  # an empty chunk: the batcher goes round its loop, to its gate

    workers = Workers(
        "batcher",
        f"batch_processor_{name}_",
        BATCHERS,
        context.settings.in_flight,
        list(dict.fromkeys(outboxes)),
        options.partition_by is not None,
        options.concurrency,
        stage,
        room_for,
        on_channels=use,
        gate=Gate(Signal(), busy=1),  # the batcher, until it waits at the gate
    )
    context.resizer.batchers[name] = (workers, wake)
    return workers
