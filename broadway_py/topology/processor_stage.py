"""A processor: takes chunks, runs prepare_messages / handle_message, routes.

A message that failed, or that no batcher takes, is acknowledged here; the
rest go on to their batcher. Exceptions from user code fail the message they
were about; they never end the loop.

``processors.timeout`` is chosen once, at the stage's start (:func:`_with_timeout`):
without it the loop below runs as it always did, with no per-message cost.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import threading
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from broadway_py.message import OK, Message
from broadway_py.telemetry import HandlerAbandoned, MessagesHandled, Telemetry
from broadway_py.topology.callbacks import settle_result, settle_sync_result
from broadway_py.topology.channel import Channel
from broadway_py.topology.context import StageContext
from broadway_py.topology.holding import Holding
from broadway_py.topology.timeouts import TIMEOUT_OPTION, timed_out_reason

Routed = tuple[list[Message], list[Message], dict[str, list[Message]], tuple[float, ...]]
Handled = tuple[list[Message], tuple[float, ...]]
OffLoop = Callable[[list[Message], bool], Awaitable[Handled]]
"""Runs the handler over a chunk off the loop (a thread, a process): results, durations."""

log = logging.getLogger("broadway_py.pipeline")


async def run_processor(
    index: int, inbox: Channel[list[Message]], context: StageContext, holding: Holding
) -> None:
    callbacks = context.settings.callbacks
    off_loop = _off_loop(context)
    handle: Callable[[Message], Any] = callbacks.handle_message
    is_async = callbacks.handle_message_is_async
    calls: _CallThread | None = None
    timeout = context.settings.processor_options.timeout
    if timeout is not None:
        handle, is_async, off_loop, calls = _with_timeout(index, context, timeout, off_loop)
    try:
        await _process(index, inbox, context, holding, handle, is_async, off_loop)
    finally:
        if calls is not None:
            calls.close()


async def _process(
    index: int,
    inbox: Channel[list[Message]],
    context: StageContext,
    holding: Holding,
    handle: Callable[[Message], Any],
    is_async: bool,
    off_loop: OffLoop | None,
) -> None:
    prepare = context.settings.callbacks.prepare_messages
    finish = context.terminator.finish
    batcher_inboxes = context.batcher_inboxes
    telemetry = context.settings.telemetry
    tracer = context.settings.tracer
    while True:
        chunk = await inbox.get()
        if chunk is None:
            return
        holding.hold(chunk)
        if tracer is not None:
            tracer.begin(chunk)
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
                    new.replaces(old)
                chunk = prepared
            except Exception as error:
                holding.clear()
                await finish([], [m.failed(error) for m in chunk], "processor")
                continue
        timed = telemetry.enabled
        if off_loop is not None:
            routed = await _handle_off_loop(chunk, off_loop, context, timed)
        else:
            routed = await _handle(chunk, handle, is_async, context, timed)
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


async def _handle(
    chunk: list[Message],
    handle: Callable[[Message], Any],
    is_async: bool,
    context: StageContext,
    timed: bool,
) -> Routed:
    """Run ``handle`` on each message of a chunk and sort the results: the hottest loop.

    One loop for every kind of handler (async or not, timed or not, and the
    routing of a worker thread's results). A copy specialised for a plain
    function without telemetry was measured and does not pay: in isolation it
    took 67 ns a message against this loop's 73 ns (chunks of 100, a handler
    that returns its message), and ``python -m bench.memory_throughput`` could
    not tell them apart (ratio to its baseline, median of 5 runs of 5 rounds of
    200,000 messages, alternated, on a shared 2-core machine: 0.56 with the copy
    and 0.57 without; again 0.53 and 0.54). Routing is inlined (no call per
    message), with the last batcher's list kept at hand.
    """
    successful: list[Message] = []
    failed: list[Message] = []
    to_batchers: dict[str, list[Message]] = {}
    durations: list[float] = []
    default_batcher = context.default_batcher
    last_name: str | None = None
    last_bucket: list[Message] = successful
    clock = time.perf_counter
    for message in chunk:
        started = clock() if timed else 0.0
        try:
            result = handle(message)
            if is_async:
                result = await result
            if result is not message:
                result = await settle_result(message, result)
                result.replaces(message)
        except Exception as error:
            result = message.failed(error)
        if timed:
            durations.append(clock() - started)
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
    return successful, failed, to_batchers, tuple(durations)


def _with_timeout(
    index: int, context: StageContext, timeout: float, off_loop: OffLoop | None
) -> tuple[Callable[[Message], Any], bool, OffLoop | None, _CallThread | None]:
    """The stage's (handle, is_async, off_loop, call thread) under ``processors.timeout``.

    - an async handler on the loop: each call is cancelled at the deadline;
    - ``executor: thread``: each call runs in the processor's own call thread,
      which is abandoned at the deadline (:class:`_CallThread`);
    - ``executor: process``: the pool waits for a chunk at most ``timeout`` per
      message, then abandons it (``ProcessPool.run``);
    - a synchronous handler on the loop holds the loop while it runs: nothing
      can stop it, and the option does not apply (a warning says so).
    """
    settings = context.settings
    callbacks = settings.callbacks
    handle: Callable[[Message], Any] = callbacks.handle_message
    executor = settings.processor_options.executor
    if executor == "process" and settings.process_pool is not None:
        telemetry = settings.telemetry

        def abandoned(count: int) -> None:
            if telemetry.enabled:
                telemetry.emit(HandlerAbandoned(index, "process", count))

        run = partial(settings.process_pool.run, timeout=timeout, abandoned=abandoned)
        return handle, False, run, None
    if callbacks.handle_message_is_async:
        return _deadline(handle, timeout), True, off_loop, None
    if executor == "thread":
        calls = _CallThread(handle, timeout, index, settings.telemetry)
        return handle, False, calls.run, calls
    if index == 0:
        log.warning(
            "%s does not apply to a synchronous handle_message run on the loop (nothing can "
            "interrupt it there); use executor: thread or process",
            TIMEOUT_OPTION,
        )
    return handle, False, off_loop, None


def _deadline(handle: Callable[[Message], Any], timeout: float) -> Callable[[Message], Any]:
    """``handle`` (async) with each call cancelled after ``timeout`` seconds."""
    reason = timed_out_reason(timeout)

    async def call(message: Message) -> Any:
        deadline = asyncio.timeout(timeout)
        try:
            async with deadline:
                return await handle(message)
        except TimeoutError:
            if not deadline.expired():
                raise  # the handler's own TimeoutError: a failure like any other
            return message.failed(reason)

    return call


class _CallThread:
    """The worker thread of one processor's calls, under ``processors.timeout``.

    Each message's call is sent to the thread and waited for at most
    ``timeout`` seconds. Past that the message fails and the thread is
    abandoned: a thread cannot be stopped, so its call goes on until it
    returns (its result is dropped), holding the thread and whatever the
    call holds. A fresh thread takes the next call; each abandoned call is
    logged and reported (:class:`~broadway_py.telemetry.HandlerAbandoned`).
    Threads are daemons, so one stuck for good does not keep the process from
    exiting. A thread hop per message, not per chunk: the price of the deadline.
    """

    def __init__(
        self, handle: Callable[[Message], Any], timeout: float, index: int, telemetry: Telemetry
    ) -> None:
        self.handle = handle
        self.timeout = timeout
        self.index = index
        self.telemetry = telemetry
        self.abandoned = 0
        self._calls = self._started()

    def _started(self) -> queue.SimpleQueue[Any]:
        calls: queue.SimpleQueue[Any] = queue.SimpleQueue()
        name = f"broadway-processor-{self.index}"
        threading.Thread(
            target=_make_calls, args=(calls, self.handle), name=name, daemon=True
        ).start()
        return calls

    def close(self) -> None:
        self._calls.put(None)

    async def run(self, chunk: list[Message], timed: bool) -> Handled:
        handled: list[Message] = []
        durations: list[float] = []
        clock = time.perf_counter
        reason = timed_out_reason(self.timeout)
        for message in chunk:
            started = clock() if timed else 0.0
            future: concurrent.futures.Future[Message] = concurrent.futures.Future()
            self._calls.put((future, message))
            try:
                result = await asyncio.wait_for(asyncio.wrap_future(future), self.timeout)
            except TimeoutError:
                result = message.failed(reason)
                self._abandon(message)
            if timed:
                durations.append(clock() - started)
            handled.append(result)
        return handled, tuple(durations)

    def _abandon(self, message: Message) -> None:
        self.close()  # the thread ends once its call returns
        self._calls = self._started()
        self.abandoned += 1
        log.warning(
            "processor %d abandoned a handle_message call past %s (%gs, message %s): its "
            "thread runs on until the call returns (%d abandoned by this processor)",
            self.index,
            TIMEOUT_OPTION,
            self.timeout,
            message.id,
            self.abandoned,
        )
        if self.telemetry.enabled:
            self.telemetry.emit(HandlerAbandoned(self.index, "thread", 1))


def _make_calls(calls: queue.SimpleQueue[Any], handle: Callable[[Message], Any]) -> None:
    """A call thread's loop: one call at a time, until it is sent None."""
    while (item := calls.get()) is not None:
        future, message = item
        if not future.set_running_or_notify_cancel():
            continue
        try:
            result = handle(message)
            future.set_result(result if result is message else _settled(message, result))
        except Exception as error:
            future.set_result(message.failed(error))
        except BaseException as error:
            future.set_exception(error)


def _off_loop(context: StageContext) -> OffLoop | None:
    """Where a chunk's calls run, for the ``executor`` option; None: here, on the loop.

    ``thread`` sends a sync handler to a worker thread (an async one stays on
    the loop); ``process`` sends it to the pipeline's process pool (checked
    sync and picklable when the pipeline was built).
    """
    settings = context.settings
    executor = settings.processor_options.executor
    if executor == "process" and settings.process_pool is not None:
        return settings.process_pool.run
    if executor == "thread" and not settings.callbacks.handle_message_is_async:
        return partial(_in_thread, settings.callbacks.handle_message)
    return None


async def _in_thread(
    handle: Callable[[Message], Any], chunk: list[Message], timed: bool
) -> Handled:
    return await asyncio.to_thread(_call_in_thread, chunk, handle, timed)


async def _handle_off_loop(
    chunk: list[Message], off_loop: OffLoop, context: StageContext, timed: bool
) -> Routed:
    """:func:`_handle` for a sync handler run off the loop (``executor: thread`` or ``process``).

    The calls run in a worker thread or process; their results are routed
    here, on the loop, by :func:`_handle` itself (the calls were made: it
    passes them on as they are), so every executor routes alike.
    """
    handled, durations = await off_loop(chunk, timed)
    successful, failed, to_batchers, _ = await _handle(handled, _as_is, False, context, False)
    return successful, failed, to_batchers, durations


async def _handle_in_thread(
    chunk: list[Message], handle: Callable[[Message], Any], context: StageContext, timed: bool
) -> Routed:
    """:func:`_handle_off_loop` in a worker thread (``executor: thread``)."""
    return await _handle_off_loop(chunk, partial(_in_thread, handle), context, timed)


def _call_in_thread(chunk: list[Message], handle: Callable[[Message], Any], timed: bool) -> Handled:
    """The handler's results for a chunk, in a worker thread: touches nothing shared.

    Only the calls run here (a thread cannot await), each result settled as
    :func:`_handle` settles it.
    """
    handled: list[Message] = []
    durations: list[float] = []
    clock = time.perf_counter
    for message in chunk:
        started = clock() if timed else 0.0
        try:
            result = handle(message)
            result = result if result is message else _settled(message, result)
        except Exception as error:
            result = message.failed(error)
        if timed:
            durations.append(clock() - started)
        handled.append(result)
    return handled, tuple(durations)


def _settled(message: Message, result: Any) -> Message:
    settled = settle_sync_result(message, result)
    settled.replaces(message)
    return settled


def _as_is(message: Message) -> Message:
    return message


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
