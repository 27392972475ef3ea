"""The connector registry: lazy imports, the pip extra hint, connector-provided defaults."""

from __future__ import annotations

import pytest

from broadway_py.config import ConfigFileError, load_config, load_pipeline
from broadway_py.connectors import registry
from broadway_py.connectors.memory import GeneratorOptions, MemoryOptions
from broadway_py.connectors.registry import ConnectorSpec
from tests.unit.config import fake_connector
from tests.unit.config.conftest import Workspace


@pytest.fixture
def fake_kafka(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(
        registry.CONNECTORS,
        "kafka",
        ConnectorSpec("kafka", "tests.unit.config.fake_connector", "aiokafka", "kafka"),
    )


def test_names() -> None:
    assert registry.names() == ["memory", "generator", "kafka", "rabbitmq", "sqs"]


def test_memory_and_generator_load() -> None:
    memory = registry.load("memory")
    assert memory.options is MemoryOptions
    assert memory.dead_letter_option is None
    assert memory.install_hint() is None
    generator = registry.load("generator")
    assert generator.options is GeneratorOptions
    assert generator.ordering_key(GeneratorOptions()) is None


def test_unknown_name() -> None:
    with pytest.raises(registry.UnknownConnector, match="unknown producer type 'nats'"):
        registry.load("nats")


def test_a_missing_client_names_the_pip_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(
        registry.CONNECTORS,
        "sqs",
        ConnectorSpec("sqs", "tests.unit.config.missing_client_connector", "aiobotocore", "sqs"),
    )
    with pytest.raises(registry.ConnectorUnavailable) as caught:
        registry.load("sqs")
    assert caught.value.install == "pip install 'broadway-py[sqs]'"
    assert str(caught.value) == (
        "the sqs connector needs the 'not_installed_client_library_xyz' package, which is "
        "not installed: pip install 'broadway-py[sqs]'"
    )


def test_a_missing_client_is_reported_at_the_producer_key(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(
        registry.CONNECTORS,
        "sqs",
        ConnectorSpec("sqs", "tests.unit.config.missing_client_connector", "aiobotocore", "sqs"),
    )
    path = workspace.file("name: a\nhandler: {h}:handle\nproducer:\n  sqs:\n    queue_url: x\n")
    with pytest.raises(ConfigFileError) as caught:
        load_config(path, env={})
    assert [str(p) for p in caught.value.problems] == [
        f"{path}:4:3: producer.sqs: the sqs connector needs the "
        "'not_installed_client_library_xyz' package, which is not installed: "
        "pip install 'broadway-py[sqs]'"
    ]


def test_a_connector_package_that_does_not_exist(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(
        registry.CONNECTORS,
        "rabbitmq",
        ConnectorSpec("rabbitmq", "broadway_py.connectors.no_such_package", "aio_pika", "rabbitmq"),
    )
    with pytest.raises(registry.ConnectorUnavailable, match="not part of this installation"):
        registry.load("rabbitmq")


def test_connector_options_ordering_key_demand_and_dead_letter_destination(
    workspace: Workspace, fake_kafka: None
) -> None:
    path = workspace.file(
        """
        name: ordered
        handler: {h}:Orders
        producer:
          kafka:
            url: kafka://broker:9092
        processors: {concurrency: 3, max_demand: 40}
        batchers:
          db: {}
          s3: {partition_by: metadata.bucket}
        dead_letter:
          destination: orders-dlq
        """
    )
    fake_connector.DEMANDS.clear()
    loaded, pipeline = load_pipeline(path, env={})
    assert loaded.options.model_dump()["dead_letter_topic"] == "orders-dlq"
    assert fake_connector.DEMANDS == [120]
    assert pipeline.processor_options.partition_by is fake_connector.partition_of
    assert pipeline.batcher_options["db"].partition_by is fake_connector.partition_of
    s3 = pipeline.batcher_options["s3"].partition_by
    assert s3 is not None
    assert s3.__name__ == "metadata.bucket"


def test_dead_letter_destination_conflicting_with_the_connector_option(
    workspace: Workspace, fake_kafka: None
) -> None:
    path = workspace.file(
        """
        name: ordered
        handler: {h}:Orders
        producer:
          kafka:
            url: kafka://broker:9092
            dead_letter_topic: other
            password: 12345
        dead_letter:
          destination: orders-dlq
        """
    )
    with pytest.raises(ConfigFileError) as caught:
        load_config(path, env={})
    assert [str(p) for p in caught.value.problems] == [
        f"{path}:9:16: dead_letter.destination: conflicts with producer.kafka.dead_letter_topic "
        "('other'); set only one of them",
        f"{path}:7:15: producer.kafka.password: should be a valid string, not <redacted>",
    ][::-1]


def test_connector_option_errors_are_positioned(workspace: Workspace, fake_kafka: None) -> None:
    path = workspace.file(
        "name: a\nhandler: {h}:handle\nproducer:\n  kafka:\n    urls: [a]\n    queue: 5\n"
    )
    with pytest.raises(ConfigFileError) as caught:
        load_config(path, env={})
    assert [str(p) for p in caught.value.problems] == [
        f"{path}:4:3: producer.kafka: missing required key 'url'",
        f"{path}:5:5: producer.kafka: unknown key 'urls' (did you mean 'url'?)",
        f"{path}:6:12: producer.kafka.queue: should be a valid string, not 5",
    ]
