"""A batch processor: runs handle_batch over each batch, then acknowledges it.

``handle_batch`` raising fails the whole batch; it may also mark single
messages failed. A message it leaves out of its result is failed with a
reason saying so, so that nothing is ever left un-acknowledged.
"""

from __future__ import annotations

import time

from broadway_py.acknowledger import all_ok_in_one_group
from broadway_py.message import Message
from broadway_py.telemetry import BatchHandled
from broadway_py.topology.batcher import Batch
from broadway_py.topology.channel import Channel
from broadway_py.topology.context import StageContext
from broadway_py.topology.holding import Holding


async def run_batch_processor(
    inbox: Channel[Batch], context: StageContext, holding: Holding
) -> None:
    handle_batch = context.settings.callbacks.handle_batch
    finish = context.terminator.finish
    finish_group = context.terminator.finish_group
    telemetry = context.settings.telemetry
    tracer = context.settings.tracer
    while True:
        batch = await inbox.get()
        if batch is None:
            return
        messages = batch.messages
        holding.hold(messages)
        trace = None if tracer is None else tracer.begin_batch(batch.info, messages)
        started = time.perf_counter()
        try:
            if handle_batch is not None:
                try:
                    result = await handle_batch(batch.info.batcher, messages, batch.info)
                    if result is not None and result is not messages:
                        messages = _reconcile(messages, result)
                except Exception as error:
                    for message in messages:
                        message.failed(error)
        finally:  # also when the stage is cancelled mid-batch: the span still ends
            if trace is not None and tracer is not None:
                tracer.end_batch(trace, messages)
        duration = time.perf_counter() - started
        if all_ok_in_one_group(messages):  # the usual case
            holding.clear()
            await finish_group(messages, "batcher")
            failed_count = 0
        else:
            successful = [m for m in messages if m.status.ok]
            failed = [m for m in messages if not m.status.ok]
            holding.clear()
            await finish(successful, failed, "batcher")
            failed_count = len(failed)
        if telemetry.enabled:
            telemetry.emit(
                BatchHandled(
                    batch.info.batcher, len(messages), failed_count, duration, batch.info.trigger
                )
            )


def _reconcile(given: list[Message], returned: object) -> list[Message]:
    """The batch's messages after handle_batch returned something other than its list."""
    if not isinstance(returned, list | tuple) or not all(isinstance(m, Message) for m in returned):
        problem = f"handle_batch returned {type(returned).__name__}, not a list of Messages"
        return [m.failed(problem) for m in given]
    kept = {id(m) for m in returned}
    missing = [
        m.failed("handle_batch did not return this message") for m in given if id(m) not in kept
    ]
    return list(returned) + missing
