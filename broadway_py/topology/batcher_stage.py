"""A batcher: one task per named batcher, feeding its batch processors.

It waits for the next chunk or the earliest batch deadline, whichever comes
first (one timer per wait, no polling), and hands closed batches to the batch
processor of their lane. When its inbox closes (drain) it flushes every
partial batch and closes its batch processors' inboxes.

The accumulator outlives the task (it is an in-flight place: a restart empties
it), and so does the holding of closed batches not yet handed over.

While a resize of its batch processors (with partition_by) closes its
``gate``, the batcher hands over every open batch and waits at the gate, so
that no batch of the old lanes is left when the lanes change.
"""

from __future__ import annotations

import asyncio

from broadway_py.message import Message
from broadway_py.topology.batcher import Batch, BatchAccumulator
from broadway_py.topology.channel import Channel
from broadway_py.topology.holding import Holding
from broadway_py.topology.resize import Gate


async def run_batcher(
    accumulator: BatchAccumulator,
    inbox: Channel[list[Message]],
    outboxes: list[Channel[Batch]],
    holding: Holding,
    gate: Gate | None = None,
) -> None:
    clock = asyncio.get_running_loop().time

    async def hand_over(batches: list[Batch]) -> None:
        if not batches:
            return
        holding.chunks = list(batches)
        for batch in batches:
            # The lane is 0 without partition_by; ``outboxes`` changes with a resize.
            await outboxes[batch.info.partition].put(batch)
            del holding.chunks[0]

    while True:
        if gate is not None and gate.closed is not None:
            await hand_over(accumulator.flush_all())
            gate.busy -= 1
            gate.signal.notify()
            try:
                await gate.wait()
            finally:
                gate.busy += 1
        chunk = await inbox.get(accumulator.next_deadline())
        if chunk is None and inbox.closed and not inbox:
            await hand_over(accumulator.flush_all())
            for outbox in outboxes:
                outbox.close()
            return
        now = clock()
        if chunk is not None:
            await hand_over(accumulator.add(chunk, now))
        await hand_over(accumulator.expire(now))
