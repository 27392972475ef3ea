from broadway_py import Message
from broadway_py.acknowledger import (
    NoopAcknowledger,
    count_decisions,
    decision_kind,
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


def test_failed_messages_are_counted_by_the_kind_of_their_decision() -> None:
    decisions = [
        Decision.retry(1.0),
        None,  # not decided yet: a retry
        Decision.dead_letter("bad"),
        Decision.discard(),
        Decision.retry(0),
        Decision.discard(),
    ]
    failed = []
    for index, decision in enumerate(decisions):
        message = Message(index, acknowledger=NoopAcknowledger())
        message.failed("boom")
        message.decision = decision
        failed.append(message)
    assert [decision_kind(m) for m in failed] == [
        "retry",
        "retry",
        "dead_letter",
        "discard",
        "retry",
        "discard",
    ]
    assert count_decisions(failed) == (3, 1, 2)
    assert count_decisions([]) == (0, 0, 0)
