"""A processor: takes chunks, runs prepare_messages / handle_message, routes.

A message that failed, or that no batcher takes, is acknowledged here; the
rest go on to their batcher. Exceptions from user code fail the message they
were about; they never end the loop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from broadway_py.message import OK, Message
from broadway_py.telemetry import MessagesHandled
from broadway_py.topology.callbacks import settle_result, settle_sync_result
from broadway_py.topology.channel import Channel
from broadway_py.topology.context import StageContext
from broadway_py.topology.holding import Holding

Routed = tuple[list[Message], list[Message], dict[str, list[Message]], tuple[float, ...]]


async def run_processor(
    index: int, inbox: Channel[list[Message]], context: StageContext, holding: Holding
) -> None:
    callbacks = context.callbacks
    prepare = callbacks.prepare_messages
    in_thread = context.processor_options.executor == "thread" and not (
        callbacks.handle_message_is_async
    )
    finish = context.terminator.finish
    batcher_inboxes = context.batcher_inboxes
    telemetry = context.telemetry
    quick = not callbacks.handle_message_is_async
    while True:
        chunk = await inbox.get()
        if chunk is None:
            return
        holding.hold(chunk)
        if prepare is not None:
            try:
                prepared = await prepare(chunk)
                if not isinstance(prepared, list) or len(prepared) != len(chunk):
                    raise TypeError("prepare_messages must return a list of the same length")
                for old, new in zip(chunk, prepared, strict=True):
                    if not isinstance(new, Message):
                        raise TypeError(
                            f"prepare_messages returned a {type(new).__name__}, not a Message"
                        )
                    new.received_at = old.received_at
                chunk = prepared
            except Exception as error:
                holding.clear()
                await finish([], [m.failed(error) for m in chunk], "processor")
                continue
        timed = telemetry.enabled
        if in_thread:
            routed = await asyncio.to_thread(_handle_sync, chunk, context, timed)
        elif quick and not timed:
            routed = await _handle_quick(chunk, context)
        else:
            routed = await _handle(chunk, context, timed)
        successful, failed, to_batchers, durations = routed
        # Let go of what is acked here; keep what still goes to a batcher.
        holding.chunks = list(to_batchers.values())
        if successful or failed:
            await finish(successful, failed, "processor")
        for name, messages in to_batchers.items():
            await batcher_inboxes[name].put(messages)
            del holding.chunks[0]
        if timed:
            telemetry.emit(MessagesHandled(index, len(chunk) - len(failed), len(failed), durations))


async def _handle(chunk: list[Message], context: StageContext, timed: bool) -> Routed:
    handle: Callable[[Message], Any] = context.callbacks.handle_message
    is_async = context.callbacks.handle_message_is_async
    successful: list[Message] = []
    failed: list[Message] = []
    to_batchers: dict[str, list[Message]] = {}
    durations: list[float] = []
    clock = time.perf_counter
    for message in chunk:
        started = clock() if timed else 0.0
        try:
            result = handle(message)
            if is_async:
                result = await result
            if result is not message:
                result = await settle_result(message, result)
                result.received_at = message.received_at
        except Exception as error:
            result = message.failed(error)
        if timed:
            durations.append(clock() - started)
        _route(result, context, successful, failed, to_batchers)
    return successful, failed, to_batchers, tuple(durations)


async def _handle_quick(chunk: list[Message], context: StageContext) -> Routed:
    """:func:`_handle` for a plain function and no telemetry: the hottest loop there is.

    Routing is inlined here (no :func:`_route` call per message), with the last
    batcher's list kept at hand.
    """
    handle: Callable[[Message], Any] = context.callbacks.handle_message
    successful: list[Message] = []
    failed: list[Message] = []
    to_batchers: dict[str, list[Message]] = {}
    default_batcher = context.default_batcher
    last_name: str | None = None
    last_bucket: list[Message] = successful
    for message in chunk:
        try:
            result = handle(message)
            if result is not message:
                result = await settle_result(message, result)
                result.received_at = message.received_at
        except Exception as error:
            failed.append(message.failed(error))
            continue
        status = result.status
        if status is not OK and not status.ok:
            failed.append(result)
            continue
        name = result.batcher or default_batcher
        if name is None:
            successful.append(result)
        elif name is last_name:
            last_bucket.append(result)
        else:
            bucket = to_batchers.get(name) or _open_bucket(
                name, result, context, to_batchers, failed
            )
            if bucket is not None:
                bucket.append(result)
                last_name, last_bucket = name, bucket
    return successful, failed, to_batchers, ()


def _handle_sync(chunk: list[Message], context: StageContext, timed: bool) -> Routed:
    """As :func:`_handle`, in a worker thread: touches nothing shared."""
    handle = context.callbacks.handle_message
    successful: list[Message] = []
    failed: list[Message] = []
    to_batchers: dict[str, list[Message]] = {}
    durations: list[float] = []
    clock = time.perf_counter
    for message in chunk:
        started = clock() if timed else 0.0
        try:
            result = handle(message)
            if result is not message:
                result = settle_sync_result(message, result)
                result.received_at = message.received_at
        except Exception as error:
            result = message.failed(error)
        if timed:
            durations.append(clock() - started)
        _route(result, context, successful, failed, to_batchers)
    return successful, failed, to_batchers, tuple(durations)


def _route(
    message: Message,
    context: StageContext,
    successful: list[Message],
    failed: list[Message],
    to_batchers: dict[str, list[Message]],
) -> None:
    """Put a handled message where it goes next: failed, acked here, or a batcher."""
    if not message.status.ok:
        failed.append(message)
        return
    name = message.batcher or context.default_batcher
    if name is None:
        successful.append(message)
        return
    bucket = to_batchers.get(name) or _open_bucket(name, message, context, to_batchers, failed)
    if bucket is not None:
        bucket.append(message)


def _open_bucket(
    name: str,
    message: Message,
    context: StageContext,
    to_batchers: dict[str, list[Message]],
    failed: list[Message],
) -> list[Message] | None:
    """The list for batcher ``name``; None (and ``message`` failed) if there is none."""
    if name not in context.batcher_inboxes:
        known = ", ".join(sorted(context.batcher_inboxes)) or "none"
        reason = f"put_batcher({name!r}): no such batcher (configured: {known})"
        failed.append(message.failed(reason))
        return None
    bucket: list[Message] = []
    to_batchers[name] = bucket
    return bucket
