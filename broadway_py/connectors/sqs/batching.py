"""The batch calls of SQS, as pure functions: at most 10 entries per call.

:func:`batches` cuts a list into calls (by count, and by bytes where a call
has a size limit); :func:`run_batch` makes one call, and sorts the entries
into succeeded and failed with SQS's per-entry reasons, so callers never mix
up which message an ``Id`` in the answer refers to.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

BATCH_LIMIT = 10
BATCH_BYTES = 256 * 1024  # SendMessageBatch: total payload of one call

T = TypeVar("T")


def batches(
    items: Sequence[T],
    size: int = BATCH_LIMIT,
    max_bytes: int | None = None,
    weight: Callable[[T], int] | None = None,
) -> Iterator[list[T]]:
    """Consecutive slices of ``items``: ``size`` at most, and ``max_bytes`` when given.

    An item heavier than ``max_bytes`` by itself gets a call of its own.
    """
    if size < 1:
        raise ValueError("size must be at least 1")
    if max_bytes is None or weight is None:
        for start in range(0, len(items), size):
            yield list(items[start : start + size])
        return
    current: list[T] = []
    current_bytes = 0
    for item in items:
        item_bytes = weight(item)
        if current and (len(current) >= size or current_bytes + item_bytes > max_bytes):
            yield current
            current, current_bytes = [], 0
        current.append(item)
        current_bytes += item_bytes
    if current:
        yield current


@dataclass(frozen=True, slots=True)
class EntryFailure(Generic[T]):
    """One entry SQS did not carry out, with its code and whose fault it was."""

    item: T
    code: str
    message: str
    sender_fault: bool


@dataclass
class BatchResult(Generic[T]):
    succeeded: list[T]
    failed: list[EntryFailure[T]]


def entry_ids(count: int) -> list[str]:
    """Ids for the entries of one call (unique within the call, as SQS requires)."""
    return [str(i) for i in range(count)]


def sort_results(items: Sequence[T], response: dict[str, Any]) -> BatchResult[T]:
    """Match a batch call's ``Successful`` / ``Failed`` entries back to ``items``.

    Entries the answer does not mention count as failed (``Missing``), so an
    item is never taken for done without SQS saying so.
    """
    by_id = dict(zip(entry_ids(len(items)), items, strict=True))
    succeeded: list[T] = []
    failed: list[EntryFailure[T]] = []
    for entry in response.get("Successful") or ():
        item = by_id.pop(str(entry.get("Id")), None)
        if item is not None:
            succeeded.append(item)
    for entry in response.get("Failed") or ():
        item = by_id.pop(str(entry.get("Id")), None)
        if item is not None:
            failed.append(
                EntryFailure(
                    item,
                    str(entry.get("Code", "")),
                    str(entry.get("Message", "")),
                    bool(entry.get("SenderFault", False)),
                )
            )
    for item in by_id.values():
        failed.append(EntryFailure(item, "Missing", "not in the answer", False))
    return BatchResult(succeeded, failed)


async def run_batch(
    items: Sequence[T],
    entry: Callable[[str, T], dict[str, Any]],
    call: Callable[[list[dict[str, Any]]], Awaitable[dict[str, Any]]],
) -> BatchResult[T]:
    """Make one batch call over ``items`` (10 at most) and sort the answer."""
    if len(items) > BATCH_LIMIT:
        raise ValueError(f"a batch call takes {BATCH_LIMIT} entries at most, not {len(items)}")
    ids = entry_ids(len(items))
    entries = [entry(entry_id, item) for entry_id, item in zip(ids, items, strict=True)]
    response = await call(entries)
    return sort_results(items, response)
