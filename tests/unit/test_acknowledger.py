from broadway_py import Message
from broadway_py.acknowledger import NoopAcknowledger, group_acks


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
