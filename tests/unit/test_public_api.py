import broadway_py

EXPECTED = {
    "Acknowledger",
    "BatchInfo",
    "BatcherOptions",
    "BroadwayError",
    "CallerAcknowledger",
    "ConfigurationError",
    "Decision",
    "Decode",
    "Failed",
    "Handler",
    "Message",
    "NoopAcknowledger",
    "Pipeline",
    "PipelineFailed",
    "PipelineNotRunning",
    "PoisonMessageError",
    "ProcessorOptions",
    "Producer",
    "ProducerOptions",
    "RateLimitOptions",
    "RetryPolicy",
    "ShutdownOptions",
    "Status",
    "SupervisorOptions",
    "Telemetry",
    "__version__",
}


def test_all_is_the_public_api() -> None:
    assert set(broadway_py.__all__) == EXPECTED
    assert len(broadway_py.__all__) == len(EXPECTED)


def test_every_public_name_resolves() -> None:
    for name in broadway_py.__all__:
        assert getattr(broadway_py, name) is not None


def test_version_is_a_string() -> None:
    assert broadway_py.__version__.count(".") == 2
