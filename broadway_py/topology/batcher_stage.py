"""A batcher: one task per named batcher, feeding its batch processors.

It waits for the next chunk or the earliest batch deadline, whichever comes
first (one timer per wait, no polling), and hands closed batches to the batch
processor of their lane. When its inbox closes (drain) it flushes every
partial batch and closes its batch processors' inboxes.
"""

from __future__ import annotations

import asyncio

from broadway_py.message import Message
from broadway_py.options import BatcherOptions
from broadway_py.topology.batcher import Batch, BatchAccumulator
from broadway_py.topology.channel import Channel


async def run_batcher(
    options: BatcherOptions,
    inbox: Channel[list[Message]],
    outboxes: list[Channel[Batch]],
) -> None:
    accumulator = BatchAccumulator(options)
    clock = asyncio.get_running_loop().time
    partitioned = options.partition_by is not None

    async def hand_over(batches: list[Batch]) -> None:
        for batch in batches:
            await outboxes[batch.info.partition if partitioned else 0].put(batch)

    while True:
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
