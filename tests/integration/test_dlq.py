"""``broadway-py dlq`` on each real broker, through the CLI in a subprocess.

A real pipeline (``broadway-py run``) dead-letters six messages, three with a
``poison`` reason and three with an ``other`` one; then, with the pipeline
stopped: ``list`` shows all six and the broker still holds six, ``show``
prints one, ``replay --dry-run`` changes nothing, ``replay --reason poison``
puts the three poison ones back at the source with their attempt reset (read
back from the broker) and leaves the other three, ``purge`` without ``--yes``
off a terminal is refused and ``purge --yes`` empties the destination.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.dlq_brokers import (
    KINDS,
    ROOT,
    DeadLetterBroker,
    NotDeclared,
    dead_letter_broker,
    start_cli,
    write_pipeline,
)
from tests.ports import free_port
from tests.support import wait_until

HANDLER = """
from broadway_py import Handler


class Poison(Handler):
    def handle_message(self, message):
        data = bytes(message.data) if not isinstance(message.data, str) else message.data.encode()
        if data.startswith(b"poison"):
            raise ValueError("poison: cannot parse " + data.decode())
        raise KeyError("other failure")
"""

POISON = [f"poison-{i}".encode() for i in range(3)]
OTHER = [f"other-{i}".encode() for i in range(3)]


async def cli(folder: Path, *arguments: str, timeout: float = 90) -> tuple[int, str, str]:
    """``python -m broadway_py ARGUMENTS``, stdin not a terminal: (exit code, stdout, stderr)."""
    process = await start_cli(folder, *arguments, stdout=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.fixture(params=KINDS)
async def broker(request: pytest.FixtureRequest) -> AsyncIterator[DeadLetterBroker]:
    made = dead_letter_broker(request.param, "dlq-it")
    try:
        await made.create()
        yield made
    finally:
        await made.close()


def pipeline_file(folder: Path, broker: DeadLetterBroker) -> Path:
    return write_pipeline(
        folder,
        f"dlq-{broker.name}",
        "dlq_handlers:Poison",
        HANDLER,
        producer=broker.producer(),
        processors={"concurrency": 2, "max_demand": 10},
        retry={"max_attempts": 1},
        shutdown={"drain_timeout": 10},
    )


async def holds(broker: DeadLetterBroker, expected: int) -> bool:
    """The destination exists and holds ``expected`` visible dead letters."""
    try:
        return await broker.visible_dead_letters() == expected
    except NotDeclared:
        return False


async def dead_letter_six(folder: Path, broker: DeadLetterBroker, file: Path) -> None:
    """Run the pipeline until six messages are dead-lettered, then stop it (SIGTERM)."""
    await broker.publish(POISON + OTHER)
    process = await start_cli(
        folder, "run", str(file), "--http-port", str(free_port()), stdout=asyncio.subprocess.DEVNULL
    )
    try:
        await wait_until(lambda: holds(broker, 6), 60, "six dead letters", interval=0.3)
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, err.decode()[-2000:]


def listed_ids(out: str) -> list[str]:
    lines = out.strip().splitlines()
    assert lines[0].startswith("ID"), out
    assert "REASON" in lines[0], out
    return [line.split()[0] for line in lines[1:-1]]


async def test_dlq_list_show_replay_purge(tmp_path: Path, broker: DeadLetterBroker) -> None:
    file = pipeline_file(tmp_path, broker)
    await dead_letter_six(tmp_path, broker, file)

    code, out, err = await cli(tmp_path, "dlq", str(file), "list")
    assert code == 0, err
    ids = listed_ids(out)
    assert len(ids) == 6, out
    assert out.count("poison: cannot parse") == 3, out
    assert out.count("other failure") == 3, out
    assert "6 dead letters in" in out
    assert await broker.visible_dead_letters() == 6  # listing consumed nothing

    code, out, err = await cli(tmp_path, "dlq", str(file), "list", "--limit", "2", "--payload")
    assert code == 0, err
    assert len(listed_ids(out.split("\npayload ")[0] + "\nend")) == 2, out
    assert out.count("payload ") == 2, out
    assert "limit" in out, out
    assert await broker.visible_dead_letters() == 6

    code, out, err = await cli(tmp_path, "dlq", str(file), "list")
    poison_id = next(line.split()[0] for line in out.splitlines() if "poison: cannot parse" in line)
    code, out, err = await cli(tmp_path, "dlq", str(file), "show", poison_id, "--payload")
    assert code == 0, err
    assert f"id: {poison_id}" in out, out
    assert "attempts: 1" in out, out
    assert "poison-" in out, out
    assert "dead-lettered: " in out, out
    assert "source: " in out, out

    code, out, err = await cli(tmp_path, "dlq", str(file), "show", "no-such-id")
    assert code == 1, out
    assert "no dead letter" in out, out

    code, out, err = await cli(
        tmp_path, "dlq", str(file), "replay", "--reason", "poison", "--dry-run"
    )
    assert code == 0, err
    assert "would replay 3 of the 6" in out, out
    assert out.count("would replay ") == 4, out
    assert await broker.visible_dead_letters() == 6
    assert await broker.replayed() == []

    code, out, err = await cli(tmp_path, "dlq", str(file), "replay", "--reason", "poison")
    assert code == 0, err
    assert "replayed 3 dead letters" in out, out
    assert await broker.replayed() == sorted(POISON)  # at the source, attempt reset
    assert await broker.visible_dead_letters() == 3

    code, out, err = await cli(tmp_path, "dlq", str(file), "list")
    assert code == 0, out
    assert "poison" not in out, out
    assert out.count("other failure") == 3, out

    code, out, err = await cli(tmp_path, "dlq", str(file), "purge")
    assert code == 2, err
    assert "--yes" in err, err
    assert await broker.visible_dead_letters() == 3

    code, out, err = await cli(tmp_path, "dlq", str(file), "purge", "--yes")
    assert code == 0, (out, err)
    assert "purged 3 dead letters" in out, (out, err)
    await wait_until(lambda: holds(broker, 0), 10, "an empty destination")
    code, out, err = await cli(tmp_path, "dlq", str(file), "list")
    assert code == 0, out
    assert "0 dead letters in" in out, out
    assert await broker.replayed() == sorted(POISON)  # purge left the source alone


async def test_dlq_on_memory_says_there_is_no_destination(tmp_path: Path) -> None:
    code, out, err = await cli(ROOT, "dlq", str(ROOT / "config" / "memory.yaml"), "list")
    assert code == 1, (out, err)
    assert "no dead-letter destination outside the process" in err
    assert "Traceback" not in err
