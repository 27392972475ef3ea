import asyncio
from collections import Counter, defaultdict

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
from broadway_py.acknowledger import NO_FAILURES, Failed
from broadway_py.connectors.memory import GeneratorProducer
from broadway_py.retry import Decision
from broadway_py.telemetry import Telemetry


async def test_generates_count_messages_then_finishes() -> None:
    producer = GeneratorProducer(count=25, payload=lambda n: n * 2)
    await producer.start(Telemetry("t"))
    first = await producer.fetch(10)
    rest = await producer.fetch(100)
    assert [m.data for m in first + rest] == [n * 2 for n in range(25)]
    await producer.ack(None, first + rest, NO_FAILURES)
    assert await asyncio.wait_for(producer.fetch(10), 1) == []
    assert producer.counts.generated == 25


async def test_rate_paces_generation() -> None:
    producer = GeneratorProducer(rate=200.0)
    await producer.start(Telemetry("t"))
    loop = asyncio.get_running_loop()
    started = loop.time()
    got = 0
    while got < 40:
        got += len(await producer.fetch(10))
    assert loop.time() - started >= 40 / 200 * 0.9


async def test_stop_fetching_ends_a_paced_wait() -> None:
    producer = GeneratorProducer(rate=0.01)
    await producer.start(Telemetry("t"))
    waiting = asyncio.create_task(producer.fetch(10))
    await asyncio.sleep(0)
    producer.stop_fetching()
    assert await asyncio.wait_for(waiting, 1) == []


def _decided(message: Message, decision: Decision) -> Message:
    message.failed("boom").decision = decision
    return message


async def test_a_retried_message_comes_back_with_the_next_attempt() -> None:
    producer = GeneratorProducer(count=3, payload=lambda n: f"order {n}")
    await producer.start(Telemetry("t"))
    first = await producer.fetch(10)
    waiting = asyncio.create_task(producer.fetch(10))
    await asyncio.sleep(0)  # sleep-ok: let fetch reach its wait for the outcomes
    assert not waiting.done()  # all 3 made, none settled: not finished yet
    retried = _decided(first[1], Decision.retry(0.01))
    await producer.ack(None, [first[0], first[2]], Failed.of([retried]))
    assert producer.pending_retries == 1
    again = await asyncio.wait_for(waiting, 1)
    assert [(m.data, m.metadata, m.attempt) for m in again] == [("order 1", {"seq": 1}, 2)]
    assert producer.pending_retries == 0
    finishing = asyncio.create_task(producer.fetch(10))
    await asyncio.sleep(0)  # sleep-ok: let fetch reach its wait for the outcomes
    assert not finishing.done()  # the redelivery is not settled yet
    await producer.ack(None, again, NO_FAILURES)
    assert await asyncio.wait_for(finishing, 1) == []
    counts = producer.counts
    assert (counts.generated, counts.redelivered, counts.acked, counts.retried) == (3, 1, 3, 1)


async def test_dead_letters_and_discards_settle_a_finite_generator() -> None:
    producer = GeneratorProducer(count=2)
    await producer.start(Telemetry("t"))
    a, b = await producer.fetch(10)
    failed = Failed.of([_decided(a, Decision.dead_letter()), _decided(b, Decision.discard())])
    await producer.ack(None, [], failed)
    assert await asyncio.wait_for(producer.fetch(10), 1) == []
    assert producer.pending_retries == 0


async def test_stop_fetching_ends_the_wait_for_outcomes_and_close_drops_retries() -> None:
    producer = GeneratorProducer(count=1)
    await producer.start(Telemetry("t"))
    (message,) = await producer.fetch(10)
    waiting = asyncio.create_task(producer.fetch(10))
    await asyncio.sleep(0)  # sleep-ok: let fetch reach its wait for the outcomes
    await producer.ack(None, [], Failed.of([_decided(message, Decision.retry(60))]))
    assert producer.pending_retries == 1
    await producer.close()
    assert await asyncio.wait_for(waiting, 1) == []
    assert producer.pending_retries == 0


async def test_a_paced_generator_redelivers_a_retry_at_once() -> None:
    producer = GeneratorProducer(rate=10)  # one new message per 0.1 s
    await producer.start(Telemetry("t"))
    (message,) = await asyncio.wait_for(producer.fetch(10), 1)
    waiting = asyncio.create_task(producer.fetch(10))
    await asyncio.sleep(0)  # sleep-ok: let fetch reach its paced wait for seq 1
    await producer.ack(None, [], Failed.of([_decided(message, Decision.retry(0))]))
    (again,) = await asyncio.wait_for(waiting, 1)
    assert (again.metadata, again.attempt) == ({"seq": 0}, 2)  # ahead of seq 1


async def test_a_pipeline_on_a_finite_generator_acks_every_failed_once_message_once() -> None:
    count = 620  # not a multiple of batch_size: the last batch closes on its timeout
    attempts: dict[int, list[int]] = defaultdict(list)
    acked_ok: Counter[int] = Counter()

    class FailsOnce(Handler):
        def handle_message(self, message: Message) -> Message:
            seq = message.metadata["seq"]
            attempts[seq].append(message.attempt)
            if seq % 50 == 7 and message.attempt == 1:
                raise RuntimeError(f"transient failure of {seq}")
            return message.put_batcher("b")

        def handle_batch(self, batcher: str, messages: list[Message], info: BatchInfo) -> None:
            acked_ok.update(m.metadata["seq"] for m in messages)

    generator = GeneratorProducer(count=count, payload=lambda n: n)
    pipeline = Pipeline(
        "t",
        FailsOnce(),
        ProducerOptions(generator),
        ProcessorOptions(concurrency=3, max_demand=40),
        [BatcherOptions("b", batch_size=50, batch_timeout=0.05)],
        retry=RetryPolicy(max_attempts=3, min_delay=0.01, max_delay=0.05),
    )
    await asyncio.wait_for(pipeline.run(), 10)  # finishes by itself
    failing = [n for n in range(count) if n % 50 == 7]
    assert acked_ok == Counter(range(count))  # every message acked ok exactly once
    assert {n: attempts[n] for n in failing} == {n: [1, 2] for n in failing}
    assert all(attempts[n] == [1] for n in range(count) if n % 50 != 7)
    counts = generator.counts
    assert (counts.acked, counts.retried, counts.redelivered) == (count, len(failing), 13)
    assert generator.pending_retries == 0
    assert len(pipeline.in_flight) == 0
