import pytest

from broadway_py import Message
from broadway_py.acknowledger import (
    NO_FAILURES,
    Failed,
    NoopAcknowledger,
    Outcomes,
    count_decisions,
    group_acks,
)
from broadway_py.retry import Decision


def test_one_group_when_everything_shares_acknowledger_and_ref() -> None:
    acker = NoopAcknowledger()
    ok = [Message(i, acknowledger=acker, ack_ref="a") for i in range(3)]
    bad = [Message(9, acknowledger=acker, ack_ref="a")]
    assert group_acks(ok, bad) == [(acker, "a", ok, bad)]


def test_groups_by_acknowledger_and_ref_keeping_order() -> None:
    first, second = NoopAcknowledger(), NoopAcknowledger()
    messages = [
        Message(0, acknowledger=first, ack_ref=1),
        Message(1, acknowledger=second, ack_ref=1),
        Message(2, acknowledger=first, ack_ref=2),
        Message(3, acknowledger=first, ack_ref=1),
    ]
    groups = group_acks(messages, [])
    assert [(g[0], g[1], [m.data for m in g[2]]) for g in groups] == [
        (first, 1, [0, 3]),
        (second, 1, [1]),
        (first, 2, [2]),
    ]


def test_nothing_to_group() -> None:
    assert group_acks([], []) == []


def test_runs_of_one_group_and_equal_refs_that_are_not_identical_share_a_group() -> None:
    acker = NoopAcknowledger()
    a1, a2, b = ("t", 0), tuple(["t", 0]), ("t", 1)  # a1 == a2, but two objects
    assert a1 is not a2
    ok = [Message(i, acknowledger=acker, ack_ref=ref) for i, ref in enumerate([a1, a1, b, a2, b])]
    bad = [Message(9, acknowledger=acker, ack_ref=b), Message(8, acknowledger=acker, ack_ref=a2)]
    groups = group_acks(ok, bad)
    assert [(g[1], [m.data for m in g[2]], [m.data for m in g[3]]) for g in groups] == [
        (("t", 0), [0, 1, 3], [8]),
        (("t", 1), [2, 4], [9]),
    ]


def failed_with(*decisions: Decision | None) -> list[Message]:
    failed = []
    for index, decision in enumerate(decisions):
        message = Message(index, acknowledger=NoopAcknowledger())
        message.failed("boom")
        message.decision = decision
        failed.append(message)
    return failed


def test_failed_messages_are_sorted_by_the_kind_of_their_decision_keeping_order() -> None:
    decisions = [
        Decision.retry(1.0),
        Decision.dead_letter("bad"),
        Decision.discard(),
        Decision.retry(0),
        Decision.discard(),
    ]
    messages = failed_with(*decisions)
    failed = Failed.of(messages)
    assert list(failed) == messages, "as a sequence: every failed message, in order"
    assert [(m.data, d) for m, d in failed.retry] == [(0, decisions[0]), (3, decisions[3])]
    assert [(m.data, d) for m, d in failed.dead_letter] == [(1, decisions[1])]
    assert [m.data for m, _ in failed.discard] == [2, 4]
    assert all(d is m.decision for group in (failed.retry, failed.discard) for m, d in group)
    assert count_decisions(messages) == (2, 1, 2)
    assert count_decisions(failed) == (2, 1, 2)


def test_a_failed_message_without_a_decision_is_refused_not_guessed() -> None:
    with pytest.raises(ValueError, match="without a decision"):
        Failed.of(failed_with(Decision.discard(), None))


def test_no_failures_is_empty_in_every_group() -> None:
    assert not NO_FAILURES
    assert (NO_FAILURES.retry, NO_FAILURES.dead_letter, NO_FAILURES.discard) == ((), (), ())
    assert count_decisions([]) == (0, 0, 0)


def test_outcomes_count_add_up_and_describe_themselves() -> None:
    total = Outcomes(successful=2)
    total.add_failed(Failed.of(failed_with(Decision.retry(0), Decision.dead_letter(), None)[:2]))
    total.add(Outcomes(discarded=1, retried=1))
    assert total == Outcomes(successful=2, retried=2, dead_lettered=1, discarded=1)
    assert total.count == 6
    assert total.describe() == "2 successful, 2 retried, 1 dead-lettered, 1 discarded"
    assert Outcomes(retried=3).describe() == "3 retried"
    assert Outcomes().describe() == "none"
