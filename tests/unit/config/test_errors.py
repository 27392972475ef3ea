"""Every class of config error, reported at its exact file:line:col, all at once."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from broadway_py.config import ConfigFileError, load_config, load_pipeline, parse_set
from tests.unit.config.conftest import Workspace

VALID = """
name: orders
handler: {h}:Orders
producer:
  memory:
    queue: orders
"""


def problems(
    path: Path, env: dict[str, str] | None = None, sets: tuple[str, ...] = ()
) -> list[str]:
    with pytest.raises(ConfigFileError) as caught:
        load_pipeline(path, [parse_set(s) for s in sets], env=env or {})
    return [str(p) for p in caught.value.problems]


def test_a_valid_file_loads(workspace: Workspace) -> None:
    loaded = load_config(workspace.file(VALID), env={})
    assert loaded.spec.name == "orders"
    assert loaded.producer_type == "memory"


def test_yaml_syntax_error_points_at_the_offending_character(workspace: Workspace) -> None:
    path = workspace.file(
        """
        name: orders
        handler: {h}:Orders
        producer:
          memory: {queue: orders
        processors: {}
        """
    )
    assert problems(path) == [
        f"{path}:5:11: YAML syntax error: expected ',' or '}}', but got ':' "
        "(while parsing a flow mapping at line 4)"
    ]


def test_bad_indentation_is_a_syntax_error(workspace: Workspace) -> None:
    path = workspace.file("name: orders\n  handler: x:y\n")
    assert problems(path) == [
        f"{path}:2:10: YAML syntax error: mapping values are not allowed here"
    ]


def test_wrong_types_are_reported_at_their_values(workspace: Workspace) -> None:
    path = workspace.file(
        VALID
        + """
processors:
  concurrency: four
  executor: fork
batchers:
  db:
    batch_timeout: soon
"""
    )
    assert problems(path) == [
        f"{path}:8:16: processors.concurrency: should be a valid integer, unable to parse "
        "string as an integer, not 'four'",
        f"{path}:9:13: processors.executor: should be 'loop', 'thread' or 'process', not 'fork'",
        f"{path}:12:20: batchers.db.batch_timeout: should be a valid number, unable to parse "
        "string as a number, not 'soon'",
    ]


def test_out_of_range_values(workspace: Workspace) -> None:
    path = workspace.file(VALID + "retry:\n  jitter: 1.5\nhttp:\n  port: 70000\n")
    assert problems(path) == [
        f"{path}:7:11: retry.jitter: should be less than or equal to 1, not 1.5",
        f"{path}:9:9: http.port: should be less than or equal to 65535, not 70000",
    ]


def test_a_section_of_the_wrong_kind(workspace: Workspace) -> None:
    path = workspace.file(VALID + "retry: 3\n")
    assert problems(path) == [
        f"{path}:6:8: retry: should be a mapping (key: value lines, or {{key: value}}), not 3"
    ]


def test_unknown_keys_are_reported_at_the_key_with_a_suggestion(workspace: Workspace) -> None:
    path = workspace.file(
        """
        name: orders
        handler: {h}:Orders
        producer:
          memory:
            queue: orders
            qeue: typo
        processors:
          concurency: 2
        colour: blue
        """
    )
    assert problems(path) == [
        f"{path}:6:5: producer.memory: unknown key 'qeue' (did you mean 'queue'?)",
        f"{path}:8:3: processors: unknown key 'concurency' (did you mean 'concurrency'?)",
        f"{path}:9:1: unknown key 'colour' (expected one of: name, handler, producer, "
        "producers, processors, batchers, rate_limit, retry, dead_letter, shutdown, supervisor, "
        "http, logging, tracing, workers)",
    ]


def test_unset_variable_without_default_is_reported_at_its_scalar(workspace: Workspace) -> None:
    path = workspace.file(
        """
        name: orders
        handler: {h}:Orders
        producer:
          memory:
            queue: ${ORDERS_QUEUE}
        processors:
          concurrency: ${WORKERS}
        """
    )
    assert problems(path) == [
        f"{path}:5:12: producer.memory.queue: environment variable ORDERS_QUEUE is not set "
        "(give it a default with ${ORDERS_QUEUE:default})",
        f"{path}:7:16: processors.concurrency: environment variable WORKERS is not set "
        "(give it a default with ${WORKERS:default})",
    ]


def test_malformed_variable_references(workspace: Workspace) -> None:
    path = workspace.file(VALID.replace("queue: orders", "queue: 'a ${9lives} b ${OPEN'"))
    assert problems(path) == [
        f"{path}:5:12: producer.memory.queue: bad variable reference at character 3 of the "
        "value: a name is letters, digits and underscores, not starting with a digit",
        f"{path}:5:12: producer.memory.queue: unclosed '${{' at character 15 of the value: "
        "write ${NAME} or ${NAME:default} (or $${ for a literal '${')",
    ]


def test_handler_module_that_does_not_exist(workspace: Workspace) -> None:
    path = workspace.file(VALID.replace("{h}:Orders", "no_such_module_x:handle"))
    (problem,) = problems(path)
    assert problem.startswith(
        f"{path}:2:10: handler: cannot import 'no_such_module_x:handle': no module named "
        "'no_such_module_x' (looked in the config file's folder, the working directory"
    )


def test_handler_attribute_that_does_not_exist(workspace: Workspace) -> None:
    path = workspace.file(VALID.replace("{h}:Orders", "{h}:Order"))
    module = workspace.handlers
    assert problems(path) == [
        f"{path}:2:10: handler: {module!r} has no attribute 'Order' (did you mean 'Orders'?)"
    ]


def test_handler_module_that_fails_to_import(workspace: Workspace) -> None:
    broken = workspace.module("import json\n\nVALUE = json.loads('{')\n", prefix="broken")
    syntax = workspace.module("def handle(message:\n    return message\n", prefix="syntax")
    path = workspace.file(
        VALID.replace("{h}:Orders", f"{broken}:handle") + f"  transformer: {syntax}:transform\n"
    )
    found = problems(path)
    assert len(found) == 2
    assert found[0].startswith(
        f"{path}:2:10: handler: importing '{broken}:handle' failed: JSONDecodeError: "
    )
    assert found[0].endswith(f"({workspace.root / broken}.py, line 3)")
    assert found[1].startswith(
        f"{path}:6:16: producer.transformer: importing '{syntax}:transform' failed: SyntaxError: "
    )
    assert found[1].endswith(f"({workspace.root / syntax}.py, line 1)")


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        (
            "{h}:two_arguments",
            "'{h}:two_arguments' must take one argument (the message), but its signature "
            "is (message, extra)",
        ),
        (
            "{h}:NeedsArguments",
            "cannot create NeedsArguments() with no arguments: TypeError: "
            "NeedsArguments.__init__() missing 1 required positional argument: 'url'",
        ),
        (
            "{h}:NotAHandler",
            "'{h}:NotAHandler' is a class but not a subclass of broadway_py.Handler; name a "
            "Handler subclass or a function of one message",
        ),
        ("{h}:LIMIT", "'{h}:LIMIT' is a int, not a function or a Handler subclass"),
        (
            "{h}:BadBatch",
            "BadBatch.handle_batch must take (batcher, messages, info), but its signature "
            "is (messages)",
        ),
        (
            "{h}.Orders",
            "'{h}.Orders' is not an import path: expected package.module:attribute "
            "(e.g. my_handlers:handle)",
        ),
    ],
)
def test_handler_with_the_wrong_shape(workspace: Workspace, reference: str, message: str) -> None:
    path = workspace.file(VALID.replace("{h}:Orders", reference))
    module = workspace.handlers
    assert problems(path) == [f"{path}:2:10: handler: {message.replace('{h}', module)}"]


def test_function_handler_with_batchers_needs_handle_batch(workspace: Workspace) -> None:
    path = workspace.file(VALID.replace("Orders", "handle") + "batchers:\n  db: {}\n")
    assert problems(path) == [
        f"{path}:2:10: handler.handle_batch: the handler must define handle_batch when "
        "batchers are set"
    ]


def test_missing_required_keys(workspace: Workspace) -> None:
    path = workspace.file(
        """
        # a comment first
        producer:
          memory: {}
        rate_limit:
          interval: 2
        """
    )
    assert problems(path) == [
        f"{path}:2:1: missing required key 'handler'",
        f"{path}:2:1: missing required key 'name'",
        f"{path}:3:3: producer.memory: missing required key 'queue'",
        f"{path}:4:1: rate_limit: missing required key 'allowed_messages'",
    ]


def test_producer_type_is_required_and_unique(workspace: Workspace) -> None:
    none = workspace.file("name: a\nhandler: {h}:handle\nproducer:\n  decode: json\n", "none.yaml")
    assert problems(none) == [
        f"{none}:3:1: producer: name one producer type: memory, generator, kafka, rabbitmq, sqs"
    ]
    both = workspace.file(VALID + "  generator: {count: 1}\n", "both.yaml")
    assert problems(both) == [
        f"{both}:6:3: producer: one producer type per pipeline, but both 'memory' and "
        "'generator' are set"
    ]


def test_duplicate_keys_and_bad_names(workspace: Workspace) -> None:
    path = workspace.file(
        """
        name: orders
        name: "bad name"
        handler: {h}:Orders
        producer:
          memory: {queue: q}
        batchers:
          - name: db
          - name: db
          - batch_size: 3
          - name: "a b"
        """
    )
    assert problems(path) == [
        f"{path}:2:1: duplicate key 'name' (first at line 1)",
        f"{path}:8:11: batchers[1]: another batcher is already named 'db'",
        f"{path}:9:5: batchers[2]: missing required key 'name'",
        f"{path}:10:11: batchers: a batcher name 'a b' may hold only letters, digits, '_', "
        "'-' and '.', and starts with a letter or digit",
    ]


def test_list_batchers_report_positions_inside_the_list(workspace: Workspace) -> None:
    path = workspace.file(
        VALID + "batchers:\n  - name: db\n    batch_size: 0\n  - name: s3\n    bogus: 1\n"
    )
    assert problems(path) == [
        f"{path}:8:17: batchers.db.batch_size: should be greater than or equal to 1, not 0",
        f"{path}:10:5: batchers.s3: unknown key 'bogus' (expected one of: batch_size, "
        "max_bytes, batch_timeout, concurrency, partition_by)",
    ]


def test_references_other_than_the_handler(workspace: Workspace) -> None:
    path = workspace.file(
        VALID
        + """\
  transformer: {h}:LIMIT
processors:
  partition_by: customer
retry:
  never_retry: [ValueErorr, "{h}:handle", "{h}:Retryable"]
"""
    )
    module = workspace.handlers
    assert problems(path) == [
        f"{path}:6:16: producer.transformer: transformer '{module}:LIMIT' must be a function "
        "of one message, not a int",
        f"{path}:8:17: processors.partition_by: partition_by 'customer' must be "
        "metadata.<key> or package.module:function",
        f"{path}:10:17: retry.never_retry[0]: 'ValueErorr' is not a built-in exception (did "
        "you mean 'ValueError'?); name others as package.module:Class",
        f"{path}:10:29: retry.never_retry[1]: '{module}:handle' is not an exception class",
    ]


def test_cross_field_checks_of_core_are_positioned(workspace: Workspace) -> None:
    path = workspace.file(
        VALID + "processors:\n  max_demand: 10\n  min_demand: 10\nretry:\n  max_delay: 0.5\n"
    )
    # Both are reported, each at the option it names.
    assert problems(path) == [
        f"{path}:8:15: processors: min_demand (10) must be below max_demand (10)",
        f"{path}:10:14: retry: max_delay (0.5) must be at least min_delay (1)",
    ]


def test_dead_letter_destination_on_a_connector_without_one(workspace: Workspace) -> None:
    path = workspace.file(
        VALID + "retry:\n  dead_letter: false\ndead_letter:\n  destination: dlq\n"
    )
    assert problems(path) == [
        f"{path}:9:16: dead_letter.destination: is set, but retry.dead_letter is false, so "
        "failed messages are discarded, never dead-lettered",
        f"{path}:9:16: dead_letter.destination: the memory producer has no dead-letter "
        "destination (see docs/configuration.md, 'Dead letters'); remove this key",
    ]


def test_file_problems(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    assert problems(missing) == [f"{missing}: no such file"]
    assert problems(tmp_path) == [
        f"{tmp_path}: is a directory, not a pipeline file (a regular file)"
    ]
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing\n")
    assert problems(empty) == [
        f"{empty}:1:1: the file is empty: expected a mapping with name, handler and producer"
    ]
    listing = tmp_path / "list.yaml"
    listing.write_text("- name: a\n")
    assert problems(listing) == [
        f"{listing}:1:1: expected a mapping (name, handler, producer, ...) at the top level, "
        "not a list"
    ]
    two = tmp_path / "two.yaml"
    two.write_text("name: a\n---\nname: b\n")
    assert (
        f"{two}:2:1: a pipeline file holds one YAML document; remove this '---' and what follows"
        in problems(two)
    )


def test_odd_values_are_problems_not_tracebacks(workspace: Workspace) -> None:
    path = workspace.file(
        """
        name: odd
        handler: 5
        producer:
          memory: [a]
        batchers: 5
        retry: {never_retry: ValueError}
        ? [a, b]
        : y
        loop: &loop [*loop]
        """
    )
    assert problems(path) == [
        f"{path}:2:10: handler: '5' is not an import path: expected package.module:attribute "
        "(e.g. my_handlers:handle)",
        f"{path}:4:11: producer.memory: should be a valid dictionary",
        f"{path}:5:11: batchers: should be a valid dictionary, not 5",
        f"{path}:6:22: retry.never_retry: should be a valid list, not 'ValueError'",
        f"{path}:7:3: a key must be a plain value, not a list",
        f"{path}:9:1: unknown key 'loop' (expected one of: name, handler, producer, producers, "
        "processors, batchers, rate_limit, retry, dead_letter, shutdown, supervisor, http, "
        "logging, tracing, workers)",
        f"{path}:9:7: an alias refers to itself (a recursive structure)",
    ]


def test_empty_sections_merge_keys_and_keys_that_yaml_would_type(workspace: Workspace) -> None:
    path = workspace.file(
        """
        name: odd
        handler: {h}:Orders
        producer:
          generator:
        processors:
        rate_limit:
        batchers:
          db: &defaults {batch_size: 5, batch_timeout: 0.1}
          s3:
            <<: *defaults
            concurrency: 2
          1:
          on: {batch_size: 7}
        """
    )
    loaded = load_config(path, env={})
    spec = loaded.spec
    assert spec.rate_limit is None
    assert spec.processors.concurrency == 4
    assert loaded.options.model_dump() == {"count": None, "rate": None, "payload": "hello {seq}"}
    s3 = spec.batchers["s3"]
    assert (s3.batch_size, s3.batch_timeout, s3.concurrency) == (5, 0.1, 2)
    assert spec.batchers["1"].batch_size == 100
    assert spec.batchers["on"].batch_size == 7


def test_handler_folders_go_after_the_installed_packages(workspace: Workspace) -> None:
    path = workspace.file(VALID)
    load_config(path, env={})
    folder = str(path.parent.resolve())
    installed = max(i for i, p in enumerate(sys.path) if "site-packages" in p)
    assert sys.path.index(folder) > installed
