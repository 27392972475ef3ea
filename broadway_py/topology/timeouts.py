"""``processors.timeout``: the one wording of a message failed by it.

Shared by the processor stage (async calls, the thread executor) and the
process pool (its workers and its deadline per chunk).
"""

from __future__ import annotations

TIMEOUT_OPTION = "processors.timeout"


def timed_out_reason(seconds: float | None) -> str:
    """The reason of a message whose ``handle_message`` ran past ``processors.timeout``."""
    return f"handle_message timed out after {seconds or 0.0:g}s ({TIMEOUT_OPTION})"
