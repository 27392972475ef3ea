"""``broadway-py dlq FILE list | show | replay | purge``: the dead letters of a pipeline.

The broker's part is the connector's :class:`DeadLetterStore`
(``connectors/<broker>/dead_letters.py``, opened through the registry); this
module parses the command's options, chooses dead letters, and prints.
docs/dead-letters.md walks through each command on each broker.
"""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

from pydantic import BaseModel

from broadway_py.connectors import registry
from broadway_py.connectors.toolkit.dead_letters import DeadLetter, DeadLetterStore
from broadway_py.service.producer_choice import add_producer_argument

DEFAULT_LIMIT = 100
MAX_LIMIT = 100_000
SCAN = 10_000
"""Most dead letters ``show`` and ``replay --dry-run`` read to find theirs."""
DEFAULT_PAYLOAD_BYTES = 256
MAX_PAYLOAD_BYTES = 65_536
REASON_WIDTH = 100

_AGE = re.compile(r"(?P<number>[0-9]+(?:\.[0-9]+)?)(?P<unit>s|m|h|d)?\Z")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def _age(text: str) -> float:
    found = _AGE.match(text.strip())
    if found is None:
        raise argparse.ArgumentTypeError(f"not an age: {text[:40]!r} (e.g. 90s, 15m, 2h, 7d)")
    return float(found.group("number")) * _UNITS[found.group("unit")]


def _bounded(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text[:40]!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be {low}..{high}, not {value}")
        return value

    return parse


def add_parser(commands: argparse._SubParsersAction[Any]) -> None:
    """The ``dlq`` command and its actions, on the CLI's subcommands."""
    dlq = commands.add_parser(
        "dlq",
        help="list, show, replay or purge the dead letters of a pipeline",
        description="The dead letters of the pipeline FILE describes, in its broker's "
        "dead-letter queue or topic (docs/dead-letters.md).",
    )
    dlq.add_argument("file", metavar="FILE", help="the pipeline file (YAML)")
    actions = dlq.add_subparsers(dest="action", metavar="ACTION", required=True)
    common = argparse.ArgumentParser(add_help=False)
    add_producer_argument(common, "work on")
    common.add_argument(
        "--set", dest="sets", action="append", default=[], metavar="KEY.PATH=VALUE",
        help="override a config value, as for run (repeatable)",
    )  # fmt: skip
    payload = argparse.ArgumentParser(add_help=False, parents=[common])
    payload.add_argument("--payload", action="store_true", help="print each payload too")
    payload.add_argument(
        "--payload-bytes", type=_bounded(1, MAX_PAYLOAD_BYTES), default=DEFAULT_PAYLOAD_BYTES,
        metavar="N", help=f"print at most N bytes of a payload (default {DEFAULT_PAYLOAD_BYTES})",
    )  # fmt: skip

    listing = actions.add_parser(
        "list", parents=[payload], help="list dead letters; changes nothing",
        description="Print the id, attempts, age, source and reason of each dead letter, "
        "oldest first. Nothing is consumed or removed.",
    )  # fmt: skip
    listing.add_argument(
        "--limit", type=_bounded(1, MAX_LIMIT), default=DEFAULT_LIMIT, metavar="N",
        help=f"list at most N (default {DEFAULT_LIMIT})",
    )  # fmt: skip

    show = actions.add_parser(
        "show", parents=[payload], help="print one dead letter; changes nothing",
        description=f"Print one dead letter (found among the first {SCAN}).",
    )  # fmt: skip
    show.add_argument("id", metavar="ID", help="its id, as list prints it")

    replay = actions.add_parser(
        "replay", parents=[common], help="send dead letters back to their source, attempts reset",
        description="Send the chosen dead letters (all, unless --id / --reason / "
        "--older-than / --newer-than choose) back to the queue or topic they came from, "
        "as attempt 1. Each is removed from the dead-letter destination only once the "
        "broker confirmed its copy: a replay that is interrupted loses nothing, and may "
        "send some again when run again.",
    )  # fmt: skip
    replay.add_argument(
        "--id", dest="ids", action="append", default=[], metavar="ID",
        help="replay this one (repeatable)",
    )  # fmt: skip
    replay.add_argument("--reason", metavar="TEXT", help="only those whose reason contains TEXT")
    replay.add_argument(
        "--older-than", type=_age, metavar="AGE", help="only those dead-lettered AGE ago or more"
    )
    replay.add_argument(
        "--newer-than", type=_age, metavar="AGE", help="only those dead-lettered under AGE ago"
    )
    replay.add_argument(
        "--limit", type=_bounded(1, 10_000_000), metavar="N", help="replay at most N"
    )
    replay.add_argument(
        "--dry-run", action="store_true", help="print what would be replayed; change nothing"
    )

    purge = actions.add_parser(
        "purge", parents=[common], help="remove every dead letter",
        description="Remove every dead letter. Asks first on a terminal; elsewhere needs --yes.",
    )  # fmt: skip
    purge.add_argument("--yes", action="store_true", help="do not ask")


@dataclass(frozen=True)
class Choice:
    """Which dead letters a replay sends back."""

    ids: frozenset[str] = frozenset()
    reason: str | None = None
    older_than: float | None = None
    newer_than: float | None = None

    def __call__(self, letter: DeadLetter, now: float | None = None) -> bool:
        if self.ids and letter.id not in self.ids:
            return False
        if self.reason is not None and self.reason not in (letter.reason or ""):
            return False
        if self.older_than is None and self.newer_than is None:
            return True
        if letter.dead_lettered_at is None:
            return False
        age = (time.time() if now is None else now) - letter.dead_lettered_at
        if self.older_than is not None and age < self.older_than:
            return False
        return self.newer_than is None or age < self.newer_than


def open_store(connector: str, options: BaseModel) -> DeadLetterStore:
    """The dead-letter store of a loaded pipeline's connector (raises NoDeadLetterDestination)."""
    return registry.open_dead_letters(connector, options)


def printable(text: str) -> str:
    """``text`` with control characters escaped, so it cannot drive the terminal."""
    return "".join(
        c if c.isprintable() or c == " " else c.encode("unicode_escape").decode("ascii")
        for c in text
    )


def payload_text(payload: bytes, limit: int) -> str:
    """At most ``limit`` bytes of a payload: UTF-8 as text, anything else escaped."""
    head = payload[:limit]
    try:
        text = printable(head.decode("utf-8"))
    except UnicodeDecodeError:
        text = head.decode("ascii", "backslashreplace")
        text = printable(text)
    more = len(payload) - len(head)
    return text + (f"... ({more} more bytes)" if more > 0 else "")


def age_text(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def _age_of(letter: DeadLetter, now: float) -> float | None:
    return None if letter.dead_lettered_at is None else now - letter.dead_lettered_at


def _reason(letter: DeadLetter, width: int | None = REASON_WIDTH) -> str:
    text = printable(letter.reason or "?")
    return text if width is None or len(text) <= width else text[: width - 3] + "..."


def rows(letters: Sequence[DeadLetter], now: float) -> list[str]:
    """The lines of ``list``: a header, then one line per dead letter."""
    ident = max([2, *(len(printable(d.id)) for d in letters)])
    source = max([6, *(len(printable(d.source or "?")) for d in letters)])
    lines = [f"{'ID':<{ident}}  ATTEMPTS  {'AGE':>7}  {'SOURCE':<{source}}  REASON"]
    for d in letters:
        attempts = "?" if d.attempts is None else str(d.attempts)
        lines.append(
            f"{printable(d.id):<{ident}}  {attempts:>8}  {age_text(_age_of(d, now)):>7}  "
            f"{printable(d.source or '?'):<{source}}  {_reason(d)}"
        )
    return lines


def detail(letter: DeadLetter, now: float) -> list[str]:
    """The lines of ``show``."""
    at = letter.dead_lettered_at
    when = "?"
    if at is not None:
        stamp = datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")
        when = f"{stamp.replace('+00:00', 'Z')} ({age_text(now - at)} ago)"
    return [
        f"id: {printable(letter.id)}",
        f"position: {printable(letter.position)}",
        f"source: {printable(letter.source or '?')}",
        f"attempts: {'?' if letter.attempts is None else letter.attempts}",
        f"dead-lettered: {when}",
        f"reason: {_reason(letter, None)}",
        f"payload: {len(letter.payload)} bytes",
    ]


@dataclass(frozen=True)
class Request:
    """One ``dlq`` command, as parsed."""

    action: str
    limit: int | None = None
    payload: bool = False
    payload_bytes: int = DEFAULT_PAYLOAD_BYTES
    id: str | None = None
    choice: Choice = Choice()
    dry_run: bool = False

    @classmethod
    def from_arguments(cls, arguments: argparse.Namespace) -> Request:
        return cls(
            action=arguments.action,
            limit=getattr(arguments, "limit", None),
            payload=getattr(arguments, "payload", False),
            payload_bytes=getattr(arguments, "payload_bytes", DEFAULT_PAYLOAD_BYTES),
            id=getattr(arguments, "id", None),
            choice=Choice(
                frozenset(getattr(arguments, "ids", None) or ()),
                getattr(arguments, "reason", None),
                getattr(arguments, "older_than", None),
                getattr(arguments, "newer_than", None),
            ),
            dry_run=getattr(arguments, "dry_run", False),
        )


async def execute(store: DeadLetterStore, request: Request, out: TextIO) -> int:
    """Carry out ``request`` on ``store``; prints to ``out``; returns the exit code (0, 1)."""
    try:
        return await _execute(store, request, out)
    finally:
        await store.close()


async def _execute(store: DeadLetterStore, request: Request, out: TextIO) -> int:
    action = request.action
    if action == "list":
        limit = request.limit or DEFAULT_LIMIT
        letters = await store.peek(limit)
        now = time.time()
        for line in rows(letters, now):
            print(line, file=out)
        if request.payload:
            for letter in letters:
                shown = payload_text(letter.payload, request.payload_bytes)
                print(f"payload {printable(letter.id)}: {shown}", file=out)
        more = " (the limit: there may be more)" if len(letters) >= limit else ""
        print(f"{len(letters)} dead letters in {store.destination}{more}", file=out)
        return 0
    if action == "show":
        letters = await store.peek(SCAN)
        found = next((d for d in letters if d.id == request.id), None)
        if found is None:
            print(
                f"no dead letter {printable(request.id or '')!r} among the first {len(letters)} "
                f"of {store.destination}",
                file=out,
            )
            return 1
        for line in detail(found, time.time()):
            print(line, file=out)
        if request.payload:
            print(payload_text(found.payload, request.payload_bytes), file=out)
        return 0
    if action == "replay":
        return await _replay(store, request, out)
    if action == "purge":
        purged = await store.purge()
        print(f"purged {purged} dead letters from {store.destination}", file=out)
        return 0
    raise ValueError(f"unknown dlq action {action!r}")


async def _replay(store: DeadLetterStore, request: Request, out: TextIO) -> int:
    now = time.time()
    choice = request.choice
    if request.dry_run:
        letters = await store.peek(SCAN)
        chosen = [d for d in letters if d.source is not None and choice(d, now)]
        if request.limit is not None:
            chosen = chosen[: request.limit]
        for letter in chosen:
            print(
                f"would replay {printable(letter.id)} -> {printable(letter.source or '?')}",
                file=out,
            )
        print(
            f"dry run: would replay {len(chosen)} of the {len(letters)} dead letters read "
            f"from {store.destination}; nothing changed",
            file=out,
        )
        return 0
    replayed = await store.replay(lambda d: choice(d, now), limit=request.limit)
    print(f"replayed {replayed} dead letters from {store.destination}", file=out)
    return 0
