"""Peak RSS of a pipeline fed by the endless generator with a slow handler.

Back-pressure must keep memory flat whatever the input: the generator could
produce far faster than the handler consumes, so anything unbounded would
show as growth. Samples RSS once a second for ``--seconds`` after a warm-up
and prints the growth of the peak over the warm-up level (target < 20 MB).
"""

from __future__ import annotations

import argparse
import asyncio
import resource

from broadway_py import (
    BatcherOptions,
    BatchInfo,
    Handler,
    Message,
    Pipeline,
    ProcessorOptions,
    ProducerOptions,
)
from broadway_py.connectors.memory import GeneratorProducer

MB = 1024 * 1024


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


class Slow(Handler):
    async def handle_message(self, message: Message) -> Message:
        await asyncio.sleep(0.001)
        return message.put_batcher("default")

    async def handle_batch(self, batcher: str, messages: list[Message], info: BatchInfo) -> None:
        await asyncio.sleep(0.005)


async def main(seconds: float, warmup: float) -> float:
    generator = GeneratorProducer(payload=b"x" * 1024)  # endless, unpaced
    pipeline = Pipeline(
        "rss",
        Slow(),
        ProducerOptions(generator),
        ProcessorOptions(concurrency=8, max_demand=50),
        [BatcherOptions("default", batch_size=100, batch_timeout=0.5, concurrency=2)],
    )
    async with pipeline:
        await asyncio.sleep(warmup)  # a warm-up period, not a wait for a condition
        baseline = rss_bytes()
        peak = baseline
        samples = []
        for _ in range(int(seconds)):
            await asyncio.sleep(1)  # the sampling interval
            current = rss_bytes()
            samples.append(current)
            peak = max(peak, current)
        processed = generator.counts.acked
        held = len(pipeline.in_flight)
    growth = (peak - baseline) / MB
    print(f"memory RSS with an endless generator and a slow handler ({seconds:.0f} s sampled)")
    print(f"  after {warmup:.0f} s warm-up: {baseline / MB:8.1f} MB")
    print(f"  peak while sampling:   {peak / MB:8.1f} MB   (min {min(samples) / MB:.1f} MB)")
    print(f"  growth of the peak:    {growth:8.1f} MB   (target < 20 MB)")
    print(f"  messages processed:    {processed:8d}; in flight before the drain: {held}")
    return growth


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--warmup", type=float, default=5)
    parser.add_argument("--smoke", action="store_true", help="a few seconds, for CI")
    args = parser.parse_args()
    if args.smoke:
        args.seconds, args.warmup = 2, 1
    asyncio.run(main(args.seconds, args.warmup))
