"""The CPU-bound handler bench/workers.py runs: about 200 µs of pure-Python work per message."""

from __future__ import annotations

from broadway_py import Message

ROUNDS = 5_000
"""Loop turns per message: about 200 µs on the 2-core development machine (41 ns a turn)."""


def handle(message: Message) -> Message:
    total = 0
    for number in range(ROUNDS):
        total = (total * 31 + number) % 1_000_003
    message.metadata["checksum"] = total
    return message


def trivial(message: Message) -> Message:
    return message
