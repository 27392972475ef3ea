"""The image, built from the Dockerfile and run: locked down, probed, validating, draining.

scripts/image-test.sh builds it (podman, no daemon); when no registry serves
the Dockerfile's FROM, on a stand-in base that it names in its output.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.deploy.container import Built, Container, podman
from tests.deploy.tools import REPO

# The first test may build the image (minutes on a fresh machine).
pytestmark = [pytest.mark.timeout(900), pytest.mark.slow]

DEMO = REPO / "config" / "demo.yaml"
HANDLERS = REPO / "config" / "demo_handlers.py"
DRAIN_GRACE = 30
"""Seconds `podman stop` waits before SIGKILL: above the demo's drain_timeout (10)."""


@pytest.fixture
def demo(built: Built) -> Iterator[Container]:
    """The demo pipeline (in-memory, no broker), kept running, on a free loopback port."""
    container = Container(
        built,
        [],  # the image's CMD: run /etc/broadway/pipeline.yaml, http.host=0.0.0.0, port 9400
        # Enough messages to keep it busy through the test; slow enough for 2 cores.
        env={"DEMO_MESSAGES": "100000000", "DEMO_RATE": "2000"},
        mounts={DEMO: "/etc/broadway/pipeline.yaml", HANDLERS: "/etc/broadway/demo_handlers.py"},
    )
    try:
        container.start()
        container.wait_http("/healthz")
        yield container
    finally:
        container.remove()


def test_image_user_is_numeric_non_root(built: Built) -> None:
    result = podman("image", "inspect", "--format", "{{.Config.User}}", built.image)
    assert result.stdout.strip() == "10001:10001"


def test_runs_as_non_root_read_only_without_capabilities(demo: Container) -> None:
    ids = demo.exec("python", "-c", "import os; print(os.getuid(), os.getgid())")
    assert ids.stdout.split() == ["10001", "10001"], ids.stderr
    status = demo.exec("python", "-c", "print(open('/proc/1/status').read())").stdout
    capabilities = dict(re.findall(r"^(Cap(?:Eff|Prm|Bnd)):\s+([0-9a-f]+)$", status, re.M))
    assert capabilities == {"CapEff": "0" * 16, "CapPrm": "0" * 16, "CapBnd": "0" * 16}
    assert re.search(r"^NoNewPrivs:\s+1$", status, re.M)
    for path in ("/app/x", "/opt/broadway/x", "/etc/broadway/x"):
        write = demo.exec("python", "-c", f"open({path!r}, 'w')")
        assert write.returncode != 0, f"{path} is writable"
        assert "Read-only file system" in write.stderr, write.stderr
    assert demo.exec("python", "-c", "open('/tmp/x', 'w').write('ok')").returncode == 0


def test_probes_and_metrics_answer(demo: Container) -> None:
    demo.wait_http("/readyz")
    metrics = demo.wait_http("/metrics")
    assert "broadway_messages_processed_total" in metrics
    assert "broadway_message_processing_seconds_bucket" in metrics
    assert (
        "/app"
        not in demo.exec("python", "-c", "import broadway_py; print(broadway_py.__file__)").stdout
    )
    # The image's HEALTHCHECK command itself, run once.
    check = podman("healthcheck", "run", demo.name)
    assert check.returncode == 0, check.stdout + check.stderr


def _message_seconds_buckets(metrics: str) -> list[tuple[float, float]]:
    """(le, cumulative count) of broadway_message_processing_seconds, in bound order."""
    found = [
        (float(sample.labels["le"]), sample.value)
        for family in text_string_to_metric_families(metrics)
        if family.name == "broadway_message_processing_seconds"
        for sample in family.samples
        if sample.name.endswith("_bucket")
    ]
    return sorted(found)


def test_the_demos_processing_time_is_measured_not_interpolated(demo: Container) -> None:
    """Most messages are above the lowest bound: the percentiles lie between measured bounds.

    With a lowest bound above the handler's cost, every percentile is read from
    inside the first bucket and comes out as a fixed fraction of that bound
    (the dashboard read exactly 50/90/99 µs with a 100 µs first bucket)."""

    deadline = time.monotonic() + 60
    buckets = _message_seconds_buckets(demo.wait_http("/metrics"))
    while not buckets or buckets[-1][1] < 2000:
        assert time.monotonic() < deadline, f"too few messages processed: {buckets}"
        time.sleep(0.5)  # sleep-ok: poll interval while the demo processes messages
        buckets = _message_seconds_buckets(demo.wait_http("/metrics"))
    (lowest, below), (_, total) = buckets[0], buckets[-1]
    assert below / total < 0.5, f"{below:.0f} of {total:.0f} messages took under {lowest} s"


def test_sigterm_drains_and_exits_zero(demo: Container) -> None:
    demo.wait_http("/readyz")
    exit_code, took = demo.stop(DRAIN_GRACE)
    logs = demo.logs()
    assert exit_code == 0, logs[-3000:]
    assert took < DRAIN_GRACE, f"took {took:.1f}s: SIGKILL, not the drain, ended it"
    assert re.search(r"drain", logs, re.I), logs[-3000:]


def test_validate_of_a_bad_file_exits_78_with_its_position(built: Built, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: bad\nhandler: demo_handlers:OrderHandler\nproducer:\n  generator: {rate: nope}\n"
    )
    bad.chmod(0o644)
    result = podman(
        "run",
        "--rm",
        *built.run_flags,
        "--read-only",
        "--cap-drop",
        "ALL",
        "--volume",
        f"{bad}:/etc/broadway/pipeline.yaml:ro",
        "--volume",
        f"{HANDLERS}:/etc/broadway/demo_handlers.py:ro",
        built.image,
        "validate",
        "/etc/broadway/pipeline.yaml",
    )
    assert result.returncode == 78, result.stdout + result.stderr
    assert "/etc/broadway/pipeline.yaml:4:21: producer.generator.rate" in result.stderr, (
        result.stderr
    )


def test_no_build_tools_in_the_runtime_venv(built: Built) -> None:
    result = podman(
        "run",
        "--rm",
        *built.run_flags,
        "--entrypoint",
        "python",
        built.image,
        "-c",
        "import importlib.util as u;"
        " print([m for m in ('pip', 'setuptools', 'wheel') if u.find_spec(m)])",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
