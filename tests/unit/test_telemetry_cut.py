"""A failure's reason is cut between words, so no half of a secret is kept."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from broadway_py.telemetry import MAX_FAILURE_REASON, cut_reason


def test_a_short_reason_is_kept_whole() -> None:
    assert cut_reason("boom: bad json") == "boom: bad json"


def test_a_word_the_cut_would_split_is_dropped() -> None:
    reason = "x" * (MAX_FAILURE_REASON - 10) + " token=abcdefghijklmnopqrstuvwxyz"
    assert cut_reason(reason) == "x" * (MAX_FAILURE_REASON - 10) + "\u2026"


@given(st.text(alphabet="ab \n", max_size=3 * MAX_FAILURE_REASON))
def test_a_cut_reason_is_bounded_and_a_prefix_ending_between_words(reason: str) -> None:
    cut = cut_reason(reason)
    assert len(cut) <= MAX_FAILURE_REASON
    if cut != reason:
        kept = cut.removesuffix("\u2026")
        assert reason.startswith(kept)
        assert kept == "" or reason[len(kept)].isspace() or reason[len(kept) - 1].isspace()
