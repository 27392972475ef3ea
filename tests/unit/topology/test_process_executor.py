"""``executor: process``: a sync handler runs in worker processes, its results come back.

The handlers here are module-level (a worker process imports this module to
unpickle them); the checks that reject the others run when the Pipeline is made.
"""

from __future__ import annotations

import os
import sys
import threading
import types
from collections.abc import Callable
from typing import Any

import pytest

from broadway_py import (
    BatcherOptions,
    BatchInfo,
    Handler,
    Message,
    Pipeline,
    ProcessorOptions,
    ProducerOptions,
    RetryPolicy,
)
from broadway_py.connectors.memory import MemoryBroker, MemoryProducer, MemoryQueue
from broadway_py.errors import ConfigurationError
from broadway_py.handler import as_handler
from broadway_py.topology.callbacks import Callbacks
from broadway_py.topology.process_pool import ProcessPool
from broadway_py.topology.processor_stage import _handle, _handle_off_loop
from tests.support import wait_until
from tests.unit.topology.test_processor_stage import chunk, context_with, decide, summary

ONCE = RetryPolicy(max_attempts=1)


def busy(n: int) -> int:
    """Some pure-Python work, so that the workers overlap."""
    return sum(i * i for i in range(2_000 + n % 7))


class Recording(Handler):
    """handle_message (in a worker) tags each message; handle_batch (here) records it."""

    def __init__(self) -> None:
        self.batched: list[Message] = []

    def handle_message(self, message: Message) -> Message:
        n = message.data
        busy(n)
        message.metadata["attempt_seen"] = message.attempt
        message.metadata["worker"] = os.getpid()
        if n % 5 == 0:
            raise ValueError(f"bad {n}")
        if n % 5 == 1:
            return message.failed(f"refused {n}")
        if n % 5 == 2:
            return None  # type: ignore[return-value]
        return message.put_data(n * 10).put_batcher("out").put_batch_key(n % 2)

    def handle_batch(self, batcher: str, messages: list[Message], info: BatchInfo) -> list[Message]:
        self.batched.extend(messages)
        return messages


class Preparing(Handler):
    """prepare_messages runs on the loop, then handle_message in a worker sees its data."""

    def __init__(self) -> None:
        self.prepared_in: set[int] = set()
        self.batched: list[Message] = []

    def prepare_messages(self, messages: list[Message]) -> list[Message]:
        self.prepared_in.add(os.getpid())
        return [m.put_data({"n": m.data}) for m in messages]

    def handle_message(self, message: Message) -> Message:
        message.data["pid"] = os.getpid()
        return message.put_batcher("out")

    def handle_batch(self, batcher: str, messages: list[Message], info: BatchInfo) -> list[Message]:
        self.batched.extend(messages)
        return messages


def keep_lock(message: Message) -> Message:
    """Returns a result that cannot go back to the loop for one datum."""
    if message.data == "lock":
        return message.put_data(threading.Lock())
    return message


def fail_with_value_error(message: Message) -> Message:
    raise ValueError("never retried")


class TwoArguments(Exception):
    """Pickles, but does not unpickle: its args are not what __init__ takes."""

    def __init__(self, a: int, b: int) -> None:
        super().__init__(f"{a}/{b}")


def raise_two_arguments(message: Message) -> Message:
    if message.data == 2:
        raise TwoArguments(1, 2)
    return message


def slow(message: Message) -> Message:
    busy(20_000)
    return message


def exit_once(message: Message) -> Message:
    """Kills its worker process on the first delivery of 13."""
    if message.data == 13 and message.attempt == 1:
        os._exit(3)
    return message


def identity(message: Message) -> Message:
    return message


def queue_with(items: list[Any]) -> MemoryQueue:
    queue = MemoryBroker().queue("q")
    queue.push_many(items)
    return queue


def pipeline(
    handler: Any,
    queue: MemoryQueue,
    concurrency: int = 2,
    batchers: tuple[str, ...] = (),
    retry: RetryPolicy = ONCE,
) -> Pipeline:
    return Pipeline(
        "process",
        handler,
        ProducerOptions(MemoryProducer.factory(queue)),
        ProcessorOptions(concurrency=concurrency, max_demand=10, executor="process"),
        [BatcherOptions(name, batch_size=10, batch_timeout=0.01) for name in batchers],
        retry=retry,
    )


async def run(p: Pipeline, queue: MemoryQueue) -> None:
    async with p:
        await queue.wait_idle(60)


async def test_handler_runs_in_worker_processes_and_its_changes_come_back() -> None:
    handler = Recording()
    queue = queue_with(list(range(200)))
    await run(pipeline(handler, queue, batchers=("out",)), queue)

    ok = [n for n in range(200) if n % 5 > 2]
    assert sorted(m.data for m in handler.batched) == [n * 10 for n in ok]
    assert all(m.batch_key == (m.data // 10) % 2 for m in handler.batched)
    assert all(m.metadata["attempt_seen"] == 1 for m in handler.batched)
    workers = {m.metadata["worker"] for m in handler.batched}
    assert os.getpid() not in workers
    assert len(workers) >= 2
    assert queue.stats.successful == len(ok)

    reasons = {d.data: d.reason for d in queue.dead_letters}
    assert len(reasons) == 200 - len(ok)
    assert reasons[0] == "ValueError: bad 0"
    assert reasons[1] == "refused 1"
    assert reasons[2] == (
        "InvalidHandlerResult: handle_message returned NoneType, not a Message "
        "(did you forget `return message`?)"
    )


async def test_the_exception_comes_back_for_the_retry_policy() -> None:
    queue = queue_with([1, 2])
    never = RetryPolicy(max_attempts=5, min_delay=0, max_delay=0, never_retry=(ValueError,))
    await run(pipeline(fail_with_value_error, queue, retry=never), queue)
    assert sorted((d.data, d.reason, d.attempt) for d in queue.dead_letters) == [
        (1, "ValueError: never retried", 1),
        (2, "ValueError: never retried", 1),
    ]


async def test_an_exception_that_does_not_come_back_still_fails_its_message() -> None:
    queue = queue_with([1, 2, 3])
    await run(pipeline(raise_two_arguments, queue, concurrency=1), queue)
    assert queue.stats.successful == 2
    assert [(d.data, d.reason) for d in queue.dead_letters] == [(2, "TwoArguments: 1/2")]


async def test_prepare_messages_runs_on_the_loop_before_the_worker() -> None:
    handler = Preparing()
    queue = queue_with(list(range(30)))
    await run(pipeline(handler, queue, batchers=("out",)), queue)
    assert handler.prepared_in == {os.getpid()}
    assert sorted(m.data["n"] for m in handler.batched) == list(range(30))
    assert os.getpid() not in {m.data["pid"] for m in handler.batched}


async def test_a_message_that_cannot_be_pickled_fails_alone() -> None:
    queue = queue_with([1, threading.Lock(), 3])
    await run(pipeline(identity, queue, concurrency=1), queue)
    assert queue.stats.successful == 2
    (letter,) = queue.dead_letters
    assert letter.reason.startswith(
        "processors.executor: process: the message cannot be sent to a worker process"
    )
    assert "lock" in letter.reason


async def test_a_result_that_cannot_be_pickled_fails_alone() -> None:
    queue = queue_with(["a", "lock", "b"])
    await run(pipeline(keep_lock, queue, concurrency=1), queue)
    assert queue.stats.successful == 2
    (letter,) = queue.dead_letters
    assert letter.data == "lock"
    assert letter.reason.startswith(
        "processors.executor: process: the handler's result cannot be sent back"
    )


async def test_the_workers_are_gone_once_the_pipeline_stopped() -> None:
    handler = Recording()
    queue = queue_with(list(range(3, 200, 5)))
    p = pipeline(handler, queue, batchers=("out",))
    await run(p, queue)
    workers = {m.metadata["worker"] for m in handler.batched}
    assert workers
    for pid in workers:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert p.state == "stopped"


async def test_a_drain_lets_the_chunks_in_workers_finish() -> None:
    queue = queue_with(list(range(2_000)))
    p = pipeline(slow, queue)
    await p.start()
    await wait_until(lambda: queue.stats.successful > 0, 30, "a first chunk acked")
    await p.stop()
    assert p.state == "stopped"
    assert queue.unacked == 0
    assert queue.stats.successful == queue.stats.delivered
    assert queue.ready > 0  # stopped before the end: the drain is what was tested


async def test_a_worker_that_dies_is_a_processor_crash_and_the_pool_recovers() -> None:
    queue = queue_with(list(range(30)))
    again = RetryPolicy(max_attempts=2, min_delay=0, max_delay=0, jitter=0)
    p = pipeline(exit_once, queue, retry=again)
    await run(p, queue)
    assert p.state == "stopped"
    assert p.restarts >= 1
    assert queue.stats.successful == 30
    assert queue.stats.retried >= 1


async def test_a_handler_that_does_not_load_in_a_worker_fails_the_start() -> None:
    ghost = types.ModuleType("ghost_handlers_not_on_disk")
    exec("def handle(message):\n    return message\n", ghost.__dict__)
    sys.modules[ghost.__name__] = ghost
    try:
        p = pipeline(ghost.handle, queue_with([1]))
        with pytest.raises(ConfigurationError) as caught:
            await p.start()
    finally:
        del sys.modules[ghost.__name__]
    assert caught.value.option == "processors.executor"
    assert "does not load in a worker process" in str(caught.value)
    assert "ghost_handlers_not_on_disk" in str(caught.value)
    assert p.state == "failed"


def _local_class() -> Handler:
    class Local(Handler):
        def handle_message(self, message: Message) -> Message:
            return message

    return Local()


def _closure() -> Callable[[Message], Message]:
    seen: list[Message] = []

    def handle(message: Message) -> Message:
        seen.append(message)
        return message

    return handle


@pytest.mark.parametrize(
    ("make", "named"),
    [
        (lambda: lambda m: m, "<lambda>"),
        (_closure, "_closure.<locals>.handle"),
        (_local_class, "_local_class.<locals>.Local.handle_message"),
    ],
    ids=["lambda", "closure", "local class"],
)
def test_a_handler_that_cannot_be_pickled_is_rejected(make: Callable[[], Any], named: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        pipeline(make(), queue_with([]))
    assert caught.value.option == "processors.executor"
    assert f"{named} cannot be pickled" in str(caught.value)
    assert "define it at module level" in str(caught.value)


async def async_handler(message: Message) -> Message:
    return message


def test_an_async_handler_is_rejected() -> None:
    with pytest.raises(
        ConfigurationError, match=r"^processors\.executor: .*async_handler is async"
    ):
        pipeline(async_handler, queue_with([]))


def test_other_executors_make_no_pool() -> None:
    loop = Pipeline("p", lambda m: m, ProducerOptions(MemoryProducer.factory(queue_with([]))))
    assert loop.process_pool is None
    assert isinstance(pipeline(identity, queue_with([])).process_pool, ProcessPool)


@pytest.mark.parametrize("batchers", [["db", "s3"], ["default", "db", "s3"]])
async def test_a_workers_results_are_routed_as_on_the_loop(batchers: list[str]) -> None:
    """The same chunk, run in a worker process and on the loop, lands in the same places."""
    context = context_with(batchers)
    pool = ProcessPool.for_pipeline(Callbacks.of(as_handler(decide)), 1, "process")
    assert pool is not None
    await pool.start()
    try:
        for timed in (False, True):
            in_process = await _handle_off_loop(chunk(), pool.run, context, timed)
            on_loop = await _handle(chunk(), decide, False, context, timed)
            assert summary(in_process) == summary(on_loop)
            assert len(in_process[3]) == (len(chunk()) if timed else 0)
    finally:
        await pool.close()
