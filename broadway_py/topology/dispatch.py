"""How chunks reach the processors: one shared buffer, or one per partition.

Without ``partition_by`` every processor takes from one shared channel, so an
idle processor always gets the next chunk. With it, each key hashes to a fixed
processor whose own channel keeps the key's messages in order; the channels
share one room (``max_demand`` per processor, in all), so a processor whose
key is hot does not hold up the chunks for the others.
"""

from __future__ import annotations

from collections.abc import Hashable

from broadway_py.message import Message
from broadway_py.options import PartitionBy, ProcessorOptions
from broadway_py.topology.channel import Channel, Room
from broadway_py.topology.holding import Holding

Chunk = list[Message]


class ProcessorDispatch:
    def __init__(self, options: ProcessorOptions) -> None:
        workers = options.concurrency
        # With one processor every key already goes to the same one.
        self.partition_by: PartitionBy | None = options.partition_by if workers > 1 else None
        if self.partition_by is None:
            shared: Channel[Chunk] = Channel(options.max_demand * workers, options.low_water)
            self.inboxes = [shared] * workers
            self.channels = [shared]
        else:
            # One room: a put waits only while the inboxes together are full (see Channel).
            room = Room(options.max_demand * workers, options.low_water)
            self.inboxes = [Channel(options.max_demand, room=room) for _ in range(workers)]
            self.channels = list(self.inboxes)

    async def dispatch(self, chunk: Chunk, holding: Holding) -> Chunk:
        """Hand ``chunk`` to the processors; returns the messages ``partition_by`` failed.

        ``holding`` is the caller's, holding ``chunk``; it keeps what is not
        handed over yet: in the end, only the failed messages, for the caller
        to finish.
        """
        if self.partition_by is None:
            await self.channels[0].put(chunk)
            holding.clear()
            return []
        parts, failed = self.split(chunk)
        pending = [(index, part) for index, part in enumerate(parts) if part]
        holding.chunks = [part for _, part in pending]
        holding.chunks.append(failed)
        for index, part in pending:
            await self.inboxes[index].put(part)
            del holding.chunks[0]
        return failed

    def split(self, chunk: Chunk) -> tuple[list[Chunk], Chunk]:
        partition_by = self.partition_by
        assert partition_by is not None
        count = len(self.inboxes)
        parts: list[Chunk] = [[] for _ in range(count)]
        failed: Chunk = []
        for message in chunk:
            try:
                key: Hashable = partition_by(message)
                parts[hash(key) % count].append(message)
            except Exception as error:
                failed.append(message.failed(error))
        return parts, failed

    def close(self) -> None:
        for channel in self.channels:
            channel.close()
