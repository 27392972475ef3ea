"""Every option out of range is rejected when the pipeline is built, naming it."""

from typing import Any

import pytest

from broadway_py import (
    BatcherOptions,
    ConfigurationError,
    Handler,
    Message,
    Pipeline,
    ProcessorOptions,
    ProducerOptions,
    RateLimitOptions,
    ShutdownOptions,
    SupervisorOptions,
)
from broadway_py.connectors.memory import MemoryBroker, MemoryProducer


def producer() -> ProducerOptions:
    return ProducerOptions(MemoryProducer.factory("q", MemoryBroker()))


@pytest.mark.parametrize(
    ("build", "option"),
    [
        (lambda: ProcessorOptions(concurrency=0), "processors.concurrency"),
        (lambda: ProcessorOptions(max_demand=0), "processors.max_demand"),
        (lambda: ProcessorOptions(min_demand=10, max_demand=10), "processors.min_demand"),
        (lambda: ProcessorOptions(concurrency=1.5), "processors.concurrency"),
        (lambda: ProcessorOptions(executor="fork"), "processors.executor"),
        (lambda: BatcherOptions("s3", batch_size=0), "batchers.s3.batch_size"),
        (lambda: BatcherOptions("s3", batch_timeout=-1), "batchers.s3.batch_timeout"),
        (lambda: BatcherOptions("s3", batch_timeout=0), "batchers.s3.batch_timeout"),
        (lambda: BatcherOptions("s3", concurrency=0), "batchers.s3.concurrency"),
        (lambda: BatcherOptions("s3", max_bytes=0), "batchers.s3.max_bytes"),
        (lambda: BatcherOptions(""), "batchers.name"),
        (lambda: RateLimitOptions(0), "rate_limit.allowed_messages"),
        (lambda: RateLimitOptions(10, interval=0), "rate_limit.interval"),
        (lambda: RateLimitOptions(10**9 + 1), "rate_limit.allowed_messages"),
        (lambda: RateLimitOptions(10, interval=float("inf")), "rate_limit.interval"),
        (lambda: RateLimitOptions(True), "rate_limit.allowed_messages"),
        (lambda: BatcherOptions("s3", batch_timeout=float("nan")), "batchers.s3.batch_timeout"),
        (lambda: SupervisorOptions(max_seconds=0), "supervisor.max_seconds"),
        (lambda: ShutdownOptions(drain_timeout="30"), "shutdown.drain_timeout"),
        (lambda: ProcessorOptions(min_demand=-1), "processors.min_demand"),
        (lambda: ShutdownOptions(drain_timeout=-1), "shutdown.drain_timeout"),
        (lambda: SupervisorOptions(max_restarts=-1), "supervisor.max_restarts"),
        (lambda: ProducerOptions(MemoryProducer("q"), concurrency=2), "producer.producer"),
        (
            lambda: ProducerOptions(lambda: MemoryProducer("q"), concurrency=0),
            "producer.concurrency",
        ),
    ],
)
def test_out_of_range_options_name_the_option(build: Any, option: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        build()
    assert raised.value.option == option
    assert str(raised.value).startswith(option + ":")


class Batching(Handler):
    def handle_message(self, message: Message) -> Message:
        return message

    def handle_batch(self, batcher: str, messages: list[Message], info: Any) -> list[Message]:
        return messages


def test_duplicate_batcher_names_are_rejected() -> None:
    with pytest.raises(ConfigurationError, match=r"batchers\.a"):
        Pipeline("p", Batching(), producer(), batchers=[BatcherOptions("a"), BatcherOptions("a")])


def test_batchers_need_handle_batch() -> None:
    with pytest.raises(ConfigurationError, match="handle_batch"):
        Pipeline("p", lambda m: m, producer(), batchers=[BatcherOptions("a")])


def test_a_handler_without_handle_message_is_rejected() -> None:
    with pytest.raises(ConfigurationError, match="handle_message"):
        Pipeline("p", Handler(), producer())


def test_a_handler_class_instead_of_an_instance_is_rejected() -> None:
    with pytest.raises(ConfigurationError, match="instance"):
        Pipeline("p", Batching, producer())  # type: ignore[arg-type]


def test_empty_name_is_rejected() -> None:
    with pytest.raises(ConfigurationError, match="name"):
        Pipeline("", lambda m: m, producer())


def test_a_factory_that_makes_no_producer_is_reported() -> None:
    options = ProducerOptions(lambda: object())  # type: ignore[arg-type,return-value]
    with pytest.raises(ConfigurationError, match=r"producer\.producer"):
        options.make_producers()
