"""``executor: process``: a synchronous ``handle_message`` run in a process pool.

A :class:`ProcessPool` is checked when the pipeline is built (the handler must
pickle and be synchronous), started with the pipeline (one worker process per
processor, at most one per usable CPU: :func:`pool_size`; each loads the
handler once) and shut down when the pipeline
stops, after the stages ended, so the chunks in flight finish first.

A chunk crosses to a worker as plain data: per message what a handler may read
and change (``data``, ``metadata``, ``attempt``, ``id``, ``status``,
``batcher``, ``batch_key``, ``batch_mode``), never its acknowledger or the
connector's ``ack_ref`` / ``ack_data``. The worker rebuilds light messages,
calls the handler, and sends back per message what it may have changed, with a
failure (its reason and, when it pickles, its exception) if the handler raised
or returned no Message. :meth:`ProcessPool.run` writes that back onto the
original messages, which the processor then routes as it routes a worker
thread's (``processor_stage._handle_off_loop``).

Workers are started with ``forkserver`` (``spawn`` where there is none), never
``fork``: the event loop and the broker clients of this process must not be
copied into them.

Under ``processors.timeout`` a call that returns late fails its message in the
worker; a call that does not return cannot be stopped there, so the loop waits
for a chunk at most ``timeout`` seconds per message it sent. Past that the
whole chunk fails (each message with the timeout as its reason: which call was
stuck is not known), the pool is renewed for the next chunks, and the old
pool is abandoned: its other chunks finish, its stuck worker goes on until its
call returns, and it is ended when the pipeline stops (:meth:`ProcessPool.close`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import pickle
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from broadway_py.acknowledger import NOOP_ACKNOWLEDGER
from broadway_py.errors import ConfigurationError
from broadway_py.message import OK, BatchMode, Message, Status, describe_exception
from broadway_py.topology.callbacks import Callbacks, settle_sync_result
from broadway_py.topology.timeouts import timed_out_reason

OPTION = "processors.executor"
START_METHOD = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
_PROTOCOL = pickle.HIGHEST_PROTOCOL
log = logging.getLogger("broadway_py.pipeline")
STARTUP_TIMEOUT = 60.0
"""Seconds a worker waits at startup for the others (they import the handler's modules)."""

# What crosses to a worker, per message:
#   (data, metadata, attempt, id, status, batcher, batch_key, batch_mode)
# with ``status`` None for ok, else the failure's reason.
Sent = tuple[Any, dict[str, Any], int, str | None, str | None, str | None, Any, BatchMode]
# What comes back, per message: (data, metadata, batcher, batch_key, batch_mode, change),
# or (change,) when the handler's result could not be sent back. ``change`` is
# None (the status is as it was), True (ok) or (reason, exception or None).
Returned = tuple[Any, ...]


def pool_size(concurrency: int) -> int:
    """Worker processes for ``concurrency`` processors: one each, at most one per usable CPU.

    Processors past the CPU count keep a chunk waiting for each worker, so a
    worker starts its next chunk while the loop routes the last one's results.
    """
    affinity = getattr(os, "sched_getaffinity", None)
    cpus = len(affinity(0)) if affinity is not None else (os.cpu_count() or 1)
    return max(1, min(concurrency, cpus))


class ProcessPool:
    """The worker processes of one pipeline run, for ``executor: process``."""

    def __init__(self, handle: bytes, workers: int) -> None:
        self._handle = handle
        self.workers = workers
        self._executor: ProcessPoolExecutor | None = None
        #: The worker processes of abandoned pools, killed when the pipeline stops.
        self._abandoned: list[Any] = []

    @staticmethod
    def for_pipeline(callbacks: Callbacks, concurrency: int, executor: str) -> ProcessPool | None:
        """The pool a pipeline needs (None unless ``executor`` is ``process``), checked.

        Raises ConfigurationError naming ``processors.executor`` if the
        handler's ``handle_message`` is async or cannot be pickled. A
        ``prepare_messages`` is allowed: it runs on the loop, before the chunk
        is sent (it is where a chunk's I/O belongs).
        """
        if executor != "process":
            return None
        handle = callbacks.handle_message
        name = getattr(handle, "__qualname__", None) or type(handle).__name__
        if callbacks.handle_message_is_async:
            raise ConfigurationError(
                OPTION,
                f"process runs a synchronous handle_message; {name} is async "
                "(use executor: loop for async handlers)",
            )
        try:
            blob = pickle.dumps(handle, _PROTOCOL)
        except Exception as error:
            raise ConfigurationError(
                OPTION,
                f"process sends the handler to its worker processes by pickling it, and "
                f"{name} cannot be pickled ({describe_exception(error)}): define it at module "
                "level, not as a lambda, a closure or a class defined in a function",
            ) from None
        return ProcessPool(blob, pool_size(concurrency))

    async def start(self) -> None:
        """Start every worker process and load the handler in each (off the loop)."""
        if self._executor is None:
            self._executor = await asyncio.to_thread(self._started)

    def _pool(self, barrier: Any = None) -> ProcessPoolExecutor:
        """A new pool of ``workers`` processes, each loading the handler as it starts."""
        context = multiprocessing.get_context(START_METHOD)
        return ProcessPoolExecutor(
            self.workers, context, initializer=_load, initargs=(self._handle, barrier)
        )

    def _started(self) -> ProcessPoolExecutor:
        # Every worker waits at the barrier once its handler loaded, so that
        # start() returns with all of them up, not one doing the work alone
        # while the others are still importing.
        barrier = multiprocessing.get_context(START_METHOD).Barrier(self.workers)
        executor = self._pool(barrier)
        try:
            # One task per worker makes the pool start them all now, not on the
            # first chunks; each answers once the handler loaded (or why not).
            futures = [executor.submit(_ready) for _ in range(self.workers)]
            for future in futures:
                future.result()
        except BrokenProcessPool as error:
            executor.shutdown(wait=True, cancel_futures=True)
            raise ConfigurationError(
                OPTION, f"the worker processes did not start: {describe_exception(error)}"
            ) from None
        except Exception as error:
            executor.shutdown(wait=True, cancel_futures=True)
            raise ConfigurationError(
                OPTION,
                "the handler does not load in a worker process (is its module importable "
                f"there?): {describe_exception(error)}",
            ) from None
        return executor

    async def close(self) -> None:
        """Shut the workers down once the chunks they run have finished."""
        executor, self._executor = self._executor, None
        abandoned, self._abandoned = self._abandoned, []
        for process in abandoned:  # only calls that ran past processors.timeout are left in them
            with contextlib.suppress(Exception):
                process.kill()
        if executor is not None:
            await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)

    async def run(
        self,
        chunk: list[Message],
        timed: bool,
        timeout: float | None = None,
        abandoned: Callable[[int], None] | None = None,
    ) -> tuple[list[Message], tuple[float, ...]]:
        """Run the handler over ``chunk`` in a worker; its results written back onto ``chunk``.

        A message that cannot be pickled fails alone, with a reason, and is not
        sent. Durations are per message, measured in the worker (0.0 for one
        not sent). A worker that died (BrokenProcessPool) is a crash of the
        calling stage: the pool is renewed for the next chunk and the error raised.
        With ``timeout`` (``processors.timeout``) a chunk not back within
        ``timeout`` seconds per message sent fails whole, and ``abandoned`` is
        called with the number of its messages (see the module's doc).
        """
        executor = self._executor
        if executor is None:
            raise RuntimeError("the process pool is not started")
        items = [_sent(m) for m in chunk]
        try:
            payload = pickle.dumps(items, _PROTOCOL)
            sent = chunk
        except Exception:
            sent, items = _picklable(chunk, items)
            if not sent:
                return chunk, (0.0,) * len(chunk) if timed else ()
            payload = pickle.dumps(items, _PROTOCOL)
        loop = asyncio.get_running_loop()
        try:
            call = loop.run_in_executor(executor, _run_chunk, payload, timed, timeout)
            if timeout is None:
                answer = await call
            else:
                answer = await asyncio.wait_for(call, timeout * len(sent))
        except TimeoutError:
            self._abandon(executor, len(sent), timeout)
            for message in sent:
                message.failed(timed_out_reason(timeout))
            if abandoned is not None:
                abandoned(len(sent))
            return chunk, (0.0,) * len(chunk) if timed else ()
        except BrokenProcessPool:
            if self._executor is executor:
                self._executor = self._pool()
                executor.shutdown(wait=False, cancel_futures=True)
            raise
        try:
            returned, durations = pickle.loads(answer)
        except Exception as error:
            reason = (
                f"{OPTION}: process: the results cannot be read back ({describe_exception(error)})"
            )
            returned = [((reason, None),)] * len(sent)
            durations = (0.0,) * len(sent) if timed else ()
        for message, entry in zip(sent, returned, strict=True):
            _apply(message, entry)
        if not timed or sent is chunk:
            return chunk, durations
        by_message = dict(zip(map(id, sent), durations, strict=True))
        return chunk, tuple(by_message.get(id(m), 0.0) for m in chunk)

    def _abandon(self, executor: ProcessPoolExecutor, count: int, timeout: float | None) -> None:
        """Leave ``executor`` to its stuck call: a fresh pool takes the next chunks."""
        log.warning(
            "a chunk of %d message(s) ran past processors.timeout (%gs a message) in a worker "
            "process: it fails, and its worker is abandoned until the pipeline stops",
            count,
            timeout or 0.0,
        )
        if self._executor is executor:
            self._executor = self._pool()
            # Taken before the shutdown, which forgets them (no public API lists them).
            self._abandoned.extend((getattr(executor, "_processes", None) or {}).values())
            executor.shutdown(wait=False, cancel_futures=False)


def _sent(message: Message) -> Sent:
    status = message.status
    return (
        message.data,
        message.metadata,
        message.attempt,
        message.id,
        None if status.ok else status.reason,
        message.batcher,
        message.batch_key,
        message.batch_mode,
    )


def _picklable(chunk: list[Message], items: list[Sent]) -> tuple[list[Message], list[Sent]]:
    """The messages of ``chunk`` that pickle, with their items; the others failed."""
    sent: list[Message] = []
    kept: list[Sent] = []
    for message, item in zip(chunk, items, strict=True):
        try:
            pickle.dumps(item, _PROTOCOL)
        except Exception as error:
            message.failed(
                f"{OPTION}: process: the message cannot be sent to a worker process "
                f"({describe_exception(error)})"
            )
            continue
        sent.append(message)
        kept.append(item)
    return sent, kept


def _apply(message: Message, entry: Returned) -> None:
    """Write what the worker sent back for ``message`` onto it."""
    if len(entry) == 1:
        change = entry[0]
    else:
        data, metadata, batcher, batch_key, batch_mode, change = entry
        message.data = data
        message.metadata = metadata
        message.batcher = batcher
        message.batch_key = batch_key
        message.batch_mode = batch_mode
    if change is True:
        message.status = OK
    elif change is not None:
        reason, exception = change
        message.status = Status(False, reason, exception)


# -- in the worker processes ---------------------------------------------------

_handle: Callable[[Message], Any] | None = None
_load_error: str | None = None


def _load(blob: bytes, barrier: Any) -> None:
    """The pool's initializer: load the handler once per worker process.

    ``barrier`` (None for a pool renewed after a crash): wait for the other
    workers, for at most STARTUP_TIMEOUT seconds; a worker that never comes is
    reported by the pool itself (BrokenProcessPool).
    """
    global _handle, _load_error
    try:
        _handle = pickle.loads(blob)
    except BaseException as error:  # reported by _ready, which the parent waits for
        _load_error = describe_exception(error)
    if barrier is not None:
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(STARTUP_TIMEOUT)


def _ready() -> int:
    if _load_error is not None:
        raise RuntimeError(_load_error)
    return os.getpid()


def _run_chunk(payload: bytes, timed: bool, timeout: float | None = None) -> bytes:
    """The handler over one chunk: what each message became, pickled (and durations)."""
    handle = _handle
    if handle is None:
        raise RuntimeError(_load_error or "the handler is not loaded")
    items: list[Sent] = pickle.loads(payload)
    returned: list[Returned] = []
    durations: list[float] = []
    clock = time.perf_counter
    for data, metadata, attempt, id_, reason, batcher, batch_key, batch_mode in items:
        message = Message(data, NOOP_ACKNOWLEDGER, None, None, metadata, attempt, id_)
        if reason is not None:
            message.status = Status(False, reason)
        message.batcher = batcher
        message.batch_key = batch_key
        message.batch_mode = batch_mode
        before = message.status
        started = clock() if timed or timeout is not None else 0.0
        try:
            result = handle(message)
            if result is not message:
                result = settle_sync_result(message, result)
        except Exception as error:
            result = message.failed(error)
        if timed or timeout is not None:
            took = clock() - started
            if timed:
                durations.append(took)
            if timeout is not None and took > timeout:
                result = result.failed(timed_out_reason(timeout))
        status = result.status
        change: Any = None
        if status is not before:
            change = True if status.ok else (status.reason, _portable(status.exception))
        returned.append(
            (
                result.data,
                result.metadata,
                result.batcher,
                result.batch_key,
                result.batch_mode,
                change,
            )
        )
    answer = (returned, tuple(durations))
    try:
        return pickle.dumps(answer, _PROTOCOL)
    except Exception:
        return pickle.dumps(([_sendable(entry) for entry in returned], answer[1]), _PROTOCOL)


def _portable(exception: BaseException | None) -> BaseException | None:
    """``exception`` if it comes back whole through pickle, else None (its reason still does).

    Tried both ways: an exception whose ``__init__`` wants other arguments
    than its ``args`` pickles, then fails to unpickle on the loop.
    """
    if exception is None:
        return None
    try:
        pickle.loads(pickle.dumps(exception, _PROTOCOL))
    except Exception:
        return None
    return exception


def _sendable(entry: Returned) -> Returned:
    """``entry``, or as much of it as pickles: its exception dropped, or only a failure."""
    try:
        pickle.dumps(entry, _PROTOCOL)
        return entry
    except Exception as error:
        problem = describe_exception(error)
    change = entry[5]
    if isinstance(change, tuple) and change[1] is not None:
        lighter = (*entry[:5], (change[0], None))
        try:
            pickle.dumps(lighter, _PROTOCOL)
            return lighter
        except Exception as error:
            problem = describe_exception(error)
    return ((f"{OPTION}: process: the handler's result cannot be sent back ({problem})", None),)
