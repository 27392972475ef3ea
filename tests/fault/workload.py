"""The fault suite's workload and how its outcome is counted, for every broker.

Why one definition: every broker and every fault is judged by the same rule.
Ids 1..N are sent; an id that is a multiple of 17 must end as a dead letter
and nowhere else; every other id must be handled successfully at least once
(a multiple of 5 only after one failed attempt). Afterwards the broker must
hold nothing of the source. ``lost`` counts what is neither; ``duplicated``
counts extra successful handlings and extra dead-letter copies, which
at-least-once delivery allows but which are worth knowing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

DEAD_EVERY = 17
FLAKY_EVERY = 5


def always_fails(ident: int) -> bool:
    return ident % DEAD_EVERY == 0


def fails_once(ident: int) -> bool:
    return ident % FLAKY_EVERY == 0


def ids(count: int) -> list[int]:
    return list(range(1, count + 1))


def expected_dead(count: int) -> set[int]:
    return {i for i in ids(count) if always_fails(i)}


def expected_ok(count: int) -> set[int]:
    return {i for i in ids(count) if not always_fails(i)}


@dataclass
class Records:
    """What the handler wrote: successful handlings and failed attempts, per id."""

    ok: Counter[int] = field(default_factory=Counter)
    failed: Counter[int] = field(default_factory=Counter)

    @classmethod
    def read(cls, path: Path) -> Records:
        records = cls()
        if not path.exists():
            return records
        for line in path.read_text().splitlines():
            kind, ident, _attempt = line.split()
            (records.ok if kind == "ok" else records.failed)[int(ident)] += 1
        return records

    def handled(self) -> int:
        return len(self.ok)

    def retries_pending(self) -> set[int]:
        """Ids that failed once and are not yet handled: waiting for their retry."""
        return {i for i in self.failed if fails_once(i) and not always_fails(i)} - set(self.ok)


@dataclass
class Outcome:
    """The counts of one case, and what makes it fail."""

    case: str
    count: int
    records: Records
    dead_letters: list[int]
    left_on_broker: int

    @property
    def lost(self) -> set[int]:
        return {i for i in expected_ok(self.count) if not self.records.ok[i]}

    @property
    def duplicated(self) -> int:
        extra_ok = sum(n - 1 for n in self.records.ok.values() if n > 1)
        return extra_ok + len(self.dead_letters) - len(set(self.dead_letters))

    @property
    def dead_lettered(self) -> int:
        return len(self.dead_letters)

    def line(self) -> str:
        return (
            f"{self.case}: lost={len(self.lost)} duplicated={self.duplicated} "
            f"dead_lettered={self.dead_lettered} left_on_broker={self.left_on_broker}"
        )

    def problems(self) -> list[str]:
        """Everything wrong with this outcome (empty when the case passed)."""
        wrong: list[str] = []
        if self.lost:
            wrong.append(f"lost ids {_few(self.lost)}")
        dead = set(self.dead_letters)
        if dead != expected_dead(self.count):
            missing = expected_dead(self.count) - dead
            extra = dead - expected_dead(self.count)
            wrong.append(f"dead letters missing {_few(missing)}, unexpected {_few(extra)}")
        handled_dead = {i for i in self.records.ok if always_fails(i)}
        if handled_dead:
            wrong.append(f"ids that always fail were handled ok: {_few(handled_dead)}")
        if self.left_on_broker:
            wrong.append(f"{self.left_on_broker} messages left on the broker")
        return wrong


def _few(values: Iterable[int]) -> str:
    ordered = sorted(values)
    shown = ", ".join(str(v) for v in ordered[:10])
    return f"[{shown}{', ...' if len(ordered) > 10 else ''}] ({len(ordered)})"
