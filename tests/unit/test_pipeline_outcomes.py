"""What the handler decides drives acks and retries."""

from __future__ import annotations

import asyncio
from typing import Any

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
from tests.support import wait_until

NO_WAIT = RetryPolicy(max_attempts=2, min_delay=0, max_delay=0, jitter=0)


def queue_with(*items: Any) -> MemoryQueue:
    queue = MemoryBroker(record=True).queue("q")
    queue.push_many(items)
    return queue


def pipeline(handler: Any, queue: MemoryQueue, **kwargs: Any) -> Pipeline:
    kwargs.setdefault("retry", NO_WAIT)
    return Pipeline("t", handler, ProducerOptions(MemoryProducer.factory(queue)), **kwargs)


async def run_until_idle(p: Pipeline, queue: MemoryQueue) -> None:
    async with p:
        await queue.wait_idle(10)


async def test_raising_or_returning_failed_fails_only_that_message() -> None:
    def handle(message: Message) -> Message:
        if message.data == 1:
            raise ValueError("one")
        if message.data == 2:
            return message.failed("two")
        return message

    queue = queue_with(0, 1, 2, 3)
    await run_until_idle(pipeline(handle, queue), queue)
    assert queue.stats.acked == 2
    assert sorted((d.data, d.reason, d.attempt) for d in queue.dead_letters) == [
        (1, "ValueError: one", 2),
        (2, "two", 2),
    ]


async def test_a_result_that_is_not_a_message_fails_with_a_reason() -> None:
    queue = queue_with(0)
    await run_until_idle(pipeline(lambda m: None, queue, retry=RetryPolicy(max_attempts=1)), queue)
    (letter,) = queue.dead_letters
    assert "returned NoneType, not a Message" in letter.reason
    assert "forget `return message`" in letter.reason


async def test_async_handlers_and_async_callbacks() -> None:
    class Async(Handler):
        def __init__(self) -> None:
            self.batches: list[list[int]] = []

        async def prepare_messages(self, messages: list[Message]) -> list[Message]:
            await asyncio.sleep(0)
            return [m.put_data(m.data * 10) for m in messages]

        async def handle_message(self, message: Message) -> Message:
            await asyncio.sleep(0)
            return message.put_batcher("b")

        async def handle_batch(
            self, batcher: str, messages: list[Message], info: BatchInfo
        ) -> list[Message]:
            self.batches.append([m.data for m in messages])
            return messages

    handler = Async()
    queue = queue_with(1, 2, 3)
    await run_until_idle(
        pipeline(handler, queue, batchers=[BatcherOptions("b", batch_size=3, batch_timeout=5)]),
        queue,
    )
    assert sorted(x for b in handler.batches for x in b) == [10, 20, 30]
    assert queue.stats.acked == 3


async def test_unrouted_messages_are_acked_by_the_processor() -> None:
    class Split(Handler):
        def __init__(self) -> None:
            self.batched: list[int] = []

        def handle_message(self, message: Message) -> Message:
            return message.put_batcher("evens") if message.data % 2 == 0 else message

        def handle_batch(self, batcher: str, messages: list[Message], info: BatchInfo) -> None:
            self.batched += [m.data for m in messages]

    handler = Split()
    queue = queue_with(*range(10))
    await run_until_idle(
        pipeline(handler, queue, batchers=[BatcherOptions("evens", batch_timeout=0.05)]), queue
    )
    assert sorted(handler.batched) == [0, 2, 4, 6, 8]
    assert queue.stats.acked == 10


async def test_a_default_batcher_catches_unrouted_messages() -> None:
    class Default(Handler):
        def __init__(self) -> None:
            self.infos: list[BatchInfo] = []

        def handle_message(self, message: Message) -> Message:
            return message

        def handle_batch(self, batcher: str, messages: list[Message], info: BatchInfo) -> None:
            self.infos.append(info)

    handler = Default()
    queue = queue_with(*range(4))
    await run_until_idle(
        pipeline(handler, queue, batchers=[BatcherOptions(batch_size=4, batch_timeout=5)]), queue
    )
    assert [(i.batcher, i.size, i.trigger) for i in handler.infos] == [("default", 4, "size")]


async def test_an_unknown_batcher_fails_the_message_naming_it() -> None:
    class Lost(Handler):
        def handle_message(self, message: Message) -> Message:
            return message.put_batcher("nowhere")

        def handle_batch(self, batcher: str, messages: list[Message], info: BatchInfo) -> None:
            return None

    queue = queue_with(1)
    await run_until_idle(
        pipeline(Lost(), queue, batchers=[BatcherOptions("s3")], retry=RetryPolicy(max_attempts=1)),
        queue,
    )
    assert queue.dead_letters[0].reason == (
        "put_batcher('nowhere'): no such batcher (configured: s3)"
    )


async def test_handle_batch_raising_fails_the_batch_and_may_fail_single_messages() -> None:
    class Batches(Handler):
        def handle_message(self, message: Message) -> Message:
            return message.put_batcher("b").put_batch_key(message.data < 3)

        def handle_batch(
            self, batcher: str, messages: list[Message], info: BatchInfo
        ) -> list[Message]:
            if info.batch_key:
                raise RuntimeError("batch down")
            return [m.failed("odd") if m.data % 2 else m for m in messages]

    queue = queue_with(*range(6))
    await run_until_idle(
        pipeline(
            Batches(),
            queue,
            batchers=[BatcherOptions("b", batch_size=3, batch_timeout=5)],
            retry=RetryPolicy(max_attempts=1),
        ),
        queue,
    )
    reasons = {d.data: d.reason for d in queue.dead_letters}
    assert reasons == {
        0: "RuntimeError: batch down",
        1: "RuntimeError: batch down",
        2: "RuntimeError: batch down",
        3: "odd",
        5: "odd",
    }
    assert queue.stats.acked == 1


async def test_handle_failed_sees_decisions_before_the_ack() -> None:
    queue = queue_with(1)
    seen: list[tuple[str, int, int]] = []

    class Watch(Handler):
        def handle_message(self, message: Message) -> Message:
            raise KeyError("k")

        def handle_failed(self, messages: list[Message]) -> None:
            for m in messages:
                assert m.decision is not None
                seen.append((m.decision.kind, m.attempt, queue.stats.retried))

    await run_until_idle(pipeline(Watch(), queue), queue)
    assert seen == [("retry", 1, 0), ("dead_letter", 2, 1)]


async def test_a_failing_transformer_fails_that_message_only() -> None:
    def transform(message: Message) -> Message:
        if message.data == "bad":
            raise ValueError("cannot transform")
        return message.put_data(message.data.upper())

    seen: list[str] = []

    def handle(message: Message) -> Message:
        seen.append(message.data)
        return message

    queue = queue_with("a", "bad", "b")
    p = Pipeline(
        "t",
        handle,
        ProducerOptions(MemoryProducer.factory(queue), transformer=transform),
        retry=NO_WAIT,
    )
    await run_until_idle(p, queue)
    assert sorted(seen) == ["A", "B"]
    assert [(d.data, d.reason, d.attempt) for d in queue.dead_letters] == [
        ("bad", "ValueError: cannot transform", 2)
    ]


async def test_thread_executor_runs_sync_handlers_off_the_loop() -> None:
    import threading

    threads: set[str] = set()

    def handle(message: Message) -> Message:
        threads.add(threading.current_thread().name)
        return message

    queue = queue_with(*range(50))
    await run_until_idle(
        pipeline(handle, queue, processors=ProcessorOptions(concurrency=2, executor="thread")),
        queue,
    )
    assert queue.stats.acked == 50
    assert threading.main_thread().name not in threads


async def test_retry_delays_come_from_the_policy() -> None:
    queue = queue_with(1)
    attempts: list[float] = []

    def handle(message: Message) -> Message:
        attempts.append(asyncio.get_running_loop().time())
        if message.attempt < 3:
            raise RuntimeError("again")
        return message

    policy = RetryPolicy(max_attempts=3, min_delay=0.05, max_delay=1, multiplier=2, jitter=0)
    await run_until_idle(pipeline(handle, queue, retry=policy), queue)
    assert len(attempts) == 3
    assert attempts[1] - attempts[0] >= 0.045
    assert attempts[2] - attempts[1] >= 0.095
    assert queue.stats.acked == 1


async def test_messages_user_code_replaces_keep_their_receipt_time() -> None:
    def copy(message: Message) -> Message:
        return Message(message.data, message.acknowledger, message.ack_ref, message.ack_data)

    class Replacing(Handler):
        def prepare_messages(self, messages: list[Message]) -> list[Message]:
            return [copy(m) for m in messages]

        def handle_message(self, message: Message) -> Message:
            return copy(message).put_batcher("slow")

        def handle_batch(self, batcher: str, messages: list[Message], info: BatchInfo) -> None:
            return None

    queue = queue_with(1, 2, 3)
    p = pipeline(Replacing(), queue, batchers=[BatcherOptions("slow", batch_timeout=30)])
    async with p:
        await wait_until(lambda: len(p.in_flight) == 3 and queue.ready == 0, 10, "3 batched")
        # Replacements that lost the receipt time would look decades old.
        assert 0 <= p.oldest_in_flight_age() < 10
        await p.stop()
    assert queue.stats.acked == 3


async def test_prepare_messages_returning_something_else_fails_the_chunk_with_a_reason() -> None:
    class Wrong(Handler):
        def prepare_messages(self, messages: list[Message]) -> list[Any]:
            return [m.data for m in messages]

        def handle_message(self, message: Message) -> Message:
            return message

    queue = queue_with(1)
    await run_until_idle(pipeline(Wrong(), queue, retry=RetryPolicy(max_attempts=1)), queue)
    (letter,) = queue.dead_letters
    assert "prepare_messages returned a int, not a Message" in letter.reason
