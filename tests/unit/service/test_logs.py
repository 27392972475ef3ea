"""Logging: one line per event, plain or JSON, payloads kept out."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from broadway_py import Message, NoopAcknowledger
from broadway_py.service.logs import configure_logging


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield root
    finally:
        for handler in list(root.handlers):
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(level)


def test_json_lines_carry_extra_fields_and_tracebacks(root_logger: logging.Logger) -> None:
    stream = io.StringIO()
    configure_logging("info", "json", stream=stream)
    logging.getLogger("aiokafka.consumer").info("joined group %s", "g1", extra={"member": 3})
    logging.getLogger("broadway_py.test").debug("hidden at INFO")
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("broadway_py.test").exception("it failed")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["level"] == "INFO"
    assert first["logger"] == "aiokafka.consumer"
    assert first["message"] == "joined group g1"
    assert first["member"] == 3
    assert first["ts"].endswith("Z")
    assert second["level"] == "ERROR"
    assert "ValueError: boom" in second["exception"]


def test_plain_lines(root_logger: logging.Logger) -> None:
    stream = io.StringIO()
    configure_logging("WARNING", "plain", loggers={"noisy": "ERROR"}, stream=stream)
    logging.getLogger("aio_pika").warning("connection lost", extra={"attempt": 2})
    logging.getLogger("noisy").warning("dropped")
    logging.getLogger("x").info("dropped too")
    (line,) = stream.getvalue().splitlines()
    assert line.endswith(" WARNING aio_pika: connection lost attempt=2")


def test_configure_twice_keeps_one_handler(root_logger: logging.Logger) -> None:
    before = len(root_logger.handlers)
    configure_logging(stream=io.StringIO())
    configure_logging(stream=io.StringIO())
    assert len(root_logger.handlers) == before + 1


def test_payloads_are_not_logged_unless_asked(root_logger: logging.Logger) -> None:
    message = Message(b"card=4111111111111111", acknowledger=NoopAcknowledger(), metadata={"id": 7})
    stream = io.StringIO()
    configure_logging("INFO", "json", stream=stream)
    log = logging.getLogger("handler")
    log.info("failed %r", message, extra={"payload": "card=4111111111111111"})
    log.info(message)
    text = stream.getvalue()
    assert "4111" not in text
    first = json.loads(text.splitlines()[0])
    assert first["payload"] == "<redacted>"
    assert "Message(data=<21 bytes, not logged>, attempt=1" in first["message"]
    assert "'id': 7" in first["message"]

    stream = io.StringIO()
    configure_logging("INFO", "json", payloads=True, stream=stream)
    log.info("failed %r", message)
    assert "card=4111111111111111" in stream.getvalue()


# --- secrets are never written -------------------------------------------------------

TOKEN = "FQoGZXIvYXdzEXAMPLE/session+token=="
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
KEY_ID = "ASIAIOSFODNN7EXAMPLE"


def test_a_traceback_quoting_a_password_is_masked(root_logger: logging.Logger) -> None:
    stream = io.StringIO()
    configure_logging("DEBUG", "json", stream=stream, env={})
    try:
        raise ConnectionError("cannot reach amqp://shop:Pa55-w0rd@rabbit:5672/ (password=hunter22)")
    except ConnectionError:
        logging.getLogger("aio_pika").exception("connect failed")
    text = stream.getvalue()
    assert "Pa55-w0rd" not in text
    assert "hunter22" not in text
    exception = json.loads(text)["exception"]
    assert "ConnectionError: cannot reach amqp://shop:<redacted>@rabbit:5672/" in exception
    assert "password=<redacted>" in exception


def test_plain_tracebacks_and_every_level_are_masked(root_logger: logging.Logger) -> None:
    stream = io.StringIO()
    configure_logging("DEBUG", "plain", stream=stream, env={})
    log = logging.getLogger("botocore.endpoint")
    log.debug("headers={'X-Amz-Security-Token': b'%s', 'Authorization': b'AWS4 %s'}", TOKEN, KEY_ID)
    log.info("x-amz-security-token:%s", TOKEN)
    try:
        raise RuntimeError(f"aws_secret_access_key={SECRET_KEY}")
    except RuntimeError:
        log.critical("boom", exc_info=True)
    text = stream.getvalue()
    for secret in (TOKEN, SECRET_KEY, KEY_ID):
        assert secret not in text
    assert "'X-Amz-Security-Token': b'<redacted>'" in text
    assert "x-amz-security-token:<redacted>" in text
    assert "RuntimeError: aws_secret_access_key=<redacted>" in text


def test_literal_secrets_from_the_environment_and_the_config(root_logger: logging.Logger) -> None:
    from broadway_py.service.logs import add_log_secrets

    stream = io.StringIO()
    env = {"AWS_SESSION_TOKEN": TOKEN, "HOME": "/home/someone", "KAFKA_PASSWORD": "abc"}
    configure_logging("INFO", "plain", stream=stream, env=env, secrets=["s4sl-secret"])
    add_log_secrets(["added-later-secret"])
    log = logging.getLogger("aiokafka")
    log.info("bare %s %s %s", TOKEN, "s4sl-secret", "added-later-secret")
    log.info("home %s, short %s", "/home/someone", "abc")
    first, second = stream.getvalue().splitlines()
    assert first.endswith("bare <redacted> <redacted> <redacted>")
    # Not secret-named, or too short to mask on sight: left alone.
    assert second.endswith("home /home/someone, short abc")


def test_extra_fields_and_unformattable_records(root_logger: logging.Logger) -> None:
    stream = io.StringIO()
    handler = configure_logging("INFO", "json", stream=stream, env={})
    log = logging.getLogger("x")
    log.info("connect", extra={"sasl_password": "p4ss-word", "url": "amqp://u:p4ss@h/", "n": 3})
    # A bad format must not raise into the caller (straight to our handler: pytest's
    # own capture handler, also on the root logger, would raise first).
    bad = {"name": "x", "msg": "%s and %s", "args": ("one",), "levelno": 20, "levelname": "INFO"}
    handler.handle(logging.makeLogRecord(bad))
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["sasl_password"] == "<redacted>"
    assert first["url"] == "amqp://u:<redacted>@h/"
    assert first["n"] == 3
    assert "could not format" in second["message"]


def test_masking_leaves_ordinary_text_alone() -> None:
    from broadway_py.config.secret_text import SecretMasker

    masker = SecretMasker(["long-secret"])
    plain = "processed 10 messages in 0.5s (batch_size=10, host=127.0.0.1:5672, token_count=)"
    assert masker.mask(plain) == plain
    assert masker.mask("Authorization: Bearer abc.def") == "Authorization: <redacted>"
    assert masker.mask("see Bearer abc.def") == "see Bearer <redacted>"
    assert masker.mask('{"SessionToken": "xyz"}') == '{"SessionToken": "<redacted>"}'
    assert masker.mask("X-Amz-Credential=ASIA%2F1&X-Amz-Date=1") == (
        "X-Amz-Credential=<redacted>&X-Amz-Date=1"
    )
    masked = masker.mask("long-secret and long-secret")
    assert masked == "<redacted> and <redacted>"
    assert masker.mask(masked) == masked


def test_config_secrets_are_collected() -> None:
    from pydantic import BaseModel, SecretStr

    from broadway_py.config.secret_values import environment_secrets, model_secrets

    class Sasl(BaseModel):
        username: str
        password: SecretStr

    class Options(BaseModel):
        url: SecretStr
        sasl: Sasl
        api_token: str
        topic: str

    options = Options(
        url=SecretStr("amqp://u:p%40ss@h/"),
        sasl=Sasl(username="svc", password=SecretStr("sasl-pw")),
        api_token="tok-123",
        topic="orders",
    )
    assert model_secrets(options) == {"amqp://u:p%40ss@h/", "p%40ss", "p@ss", "sasl-pw", "tok-123"}
    env = {"AWS_SECRET_ACCESS_KEY": "k", "PATH": "/bin", "DB": "postgres://a:b@h/"}
    assert environment_secrets(env) == {"k", "b"}
    assert environment_secrets({"USE_SECRETS": "True", "TOKEN_CACHE": "disabled"}) == set()


def test_the_secrets_of_a_loaded_pipeline_file() -> None:
    from pathlib import Path

    from broadway_py.config import load_config
    from broadway_py.config.secret_values import config_secrets

    example = Path(__file__).resolve().parents[3] / "config" / "rabbitmq.yaml"
    env = {"RABBITMQ_URL": "amqp://shop:Rabbit-Pa55@rabbit:5672/shop"}
    secrets = config_secrets(load_config(example, env=env))
    assert "Rabbit-Pa55" in secrets
    assert env["RABBITMQ_URL"] in secrets
    assert "shop" not in secrets
