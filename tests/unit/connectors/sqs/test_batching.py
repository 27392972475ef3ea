from __future__ import annotations

from typing import Any

import pytest

from broadway_py.connectors.sqs.batching import batches, run_batch, sort_results


def test_batches_cut_into_tens() -> None:
    assert [len(b) for b in batches(list(range(25)))] == [10, 10, 5]
    assert list(batches([])) == []
    assert [b for b in batches(list(range(20)))] == [list(range(10)), list(range(10, 20))]


def test_batches_respect_a_byte_limit_and_keep_order() -> None:
    sizes = [40, 40, 40, 100, 10, 10]
    cut = list(batches(sizes, max_bytes=100, weight=lambda s: s))
    assert cut == [[40, 40], [40], [100], [10, 10]]
    # An item heavier than the limit goes alone rather than never.
    assert list(batches([500, 1], max_bytes=100, weight=lambda s: s)) == [[500], [1]]


def test_sort_results_maps_ids_back_and_treats_silence_as_failure() -> None:
    items = ["a", "b", "c", "d"]
    response = {
        "Successful": [{"Id": "0"}, {"Id": "3"}],
        "Failed": [{"Id": "1", "Code": "ReceiptHandleIsInvalid", "SenderFault": True}],
    }
    result = sort_results(items, response)
    assert result.succeeded == ["a", "d"]
    assert [(f.item, f.code, f.sender_fault) for f in result.failed] == [
        ("b", "ReceiptHandleIsInvalid", True),
        ("c", "Missing", False),
    ]


async def test_run_batch_numbers_entries_within_the_call() -> None:
    seen: list[list[dict[str, Any]]] = []

    async def call(entries: list[dict[str, Any]]) -> dict[str, Any]:
        seen.append(entries)
        return {"Successful": [{"Id": e["Id"]} for e in entries]}

    result = await run_batch(["x", "y"], lambda i, item: {"Id": i, "Handle": item}, call)
    assert seen == [[{"Id": "0", "Handle": "x"}, {"Id": "1", "Handle": "y"}]]
    assert result.succeeded == ["x", "y"]
    with pytest.raises(ValueError, match="10 entries at most"):
        await run_batch(list(range(11)), lambda i, item: {"Id": i}, call)
