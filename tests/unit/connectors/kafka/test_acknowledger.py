"""The acknowledger's decisions, against a fake session and publisher (no broker)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiokafka.structs import ConsumerRecord

from broadway_py.acknowledger import Decided, Failed, count_decisions
from broadway_py.connectors.kafka.acknowledger import REVOKED, REWOUND, KafkaAcknowledger
from broadway_py.connectors.kafka.message import KafkaMessage
from broadway_py.connectors.kafka.offsets import PartitionOffsets
from broadway_py.connectors.kafka.records import Fetched, fetched, to_messages
from broadway_py.message import Message
from broadway_py.retry import Decision


class FakePublisher:
    retry_topic = "g.retry"
    dead_letter_topic = "g.dlq"

    def __init__(self, fail: set[int] | None = None) -> None:
        self.fail = fail or set()
        self.retried: list[int] = []
        self.dead: list[int] = []
        self.copies: list[Fetched] = []

    async def retry(self, retries: Sequence[Decided]) -> list[BaseException | None]:
        return self._record(retries, self.retried)

    async def dead_letter(self, dead: Sequence[Decided]) -> list[BaseException | None]:
        return self._record(dead, self.dead)

    def _record(self, copies: Sequence[Decided], into: list[int]) -> list[BaseException | None]:
        outcomes: list[BaseException | None] = []
        for message, _ in copies:
            offset = message.metadata["offset"]
            self.copies.append(fetched(message))
            if offset in self.fail:
                outcomes.append(ConnectionError("broker gone"))
            else:
                into.append(offset)
                outcomes.append(None)
        return outcomes


class FakeSession:
    redeliver_delay = 0.5

    def __init__(self, ordered: bool = False, publisher: Any = None) -> None:
        self.ordered = ordered
        self.publisher = publisher or FakePublisher()
        self.rewinds: list[tuple[int, float, int | None]] = []
        self.dropped: list[tuple[int, str]] = []
        #: reason -> (successful, retried, dead_lettered, discarded), summed.
        self.split: dict[str, tuple[int, int, int, int]] = {}
        self.touched: set[PartitionOffsets] = set()

    def rewind(
        self, offsets: PartitionOffsets, offset: int, delay: float, attempt: int | None
    ) -> None:
        offsets.rewind(offset)
        self.rewinds.append((offset, delay, attempt))

    def acks_dropped(
        self, reason: str, successful: int = 0, failed: Sequence[Message] = ()
    ) -> None:
        self.dropped.append((successful + len(failed), reason))
        ok, retried, dead, discarded = self.split.get(reason, (0, 0, 0, 0))
        more = count_decisions(failed)
        self.split[reason] = (
            ok + successful,
            retried + more[0],
            dead + more[1],
            discarded + more[2],
        )

    def acked(self, touched: set[PartitionOffsets]) -> None:
        self.touched.update(touched)


def delivered(
    count: int, session: FakeSession
) -> tuple[PartitionOffsets, list[Message], KafkaAcknowledger]:
    acker = KafkaAcknowledger(session)  # type: ignore[arg-type]
    offsets = PartitionOffsets(("t", 0), 1)
    records = [
        ConsumerRecord("t", 0, i, 0, 0, None, b"v%d" % i, None, 0, 2, ()) for i in range(count)
    ]
    return offsets, to_messages(records, ("t", 0), offsets, acker), acker


def failed(message: Message, decision: Decision) -> Message:
    message.failed("boom")
    message.decision = decision
    return message


async def test_outcomes_mark_offsets_done_after_their_copies_are_written() -> None:
    session = FakeSession()
    offsets, messages, acker = delivered(5, session)
    await acker.ack(
        None,
        messages[:2],
        Failed.of(
            [
                failed(messages[2], Decision.retry(1.0)),
                failed(messages[3], Decision.dead_letter("bad")),
                failed(messages[4], Decision.discard()),
            ]
        ),
    )
    assert session.publisher.retried == [2]
    assert session.publisher.dead == [3]
    assert offsets.pending == 0
    assert offsets.commit_point() == 5
    assert session.dropped == []
    assert messages[0].metadata == {
        "topic": "t",
        "partition": 0,
        "offset": 0,
        "key": None,
        "timestamp": 0,
        "headers": (),
    }


async def test_ordered_mode_rewinds_to_the_first_retried_offset() -> None:
    session = FakeSession(ordered=True)
    offsets, messages, acker = delivered(6, session)
    await acker.ack(
        None,
        messages[:2],
        Failed.of(
            [
                failed(messages[4], Decision.retry(0.25)),
                failed(messages[2], Decision.retry(0.5)),
                failed(messages[5], Decision.dead_letter()),
            ]
        ),
    )
    # Only the earliest retried message rewinds the partition; what follows is read again,
    # so the retry and the dead letter after it are dropped, not published.
    assert session.rewinds == [(2, 0.5, 2)]
    assert session.publisher.dead == []
    assert offsets.commit_point() == 2
    assert session.split == {REWOUND: (0, 1, 1, 0)}
    # A late ack of offset 3 (delivered before the rewind) does not count: dropped too.
    await acker.ack(None, [messages[3]], [])
    assert offsets.commit_point() == 2
    assert session.split == {REWOUND: (1, 1, 1, 0)}
    assert [count for count, _ in session.dropped] == [2, 1]


async def test_unpublished_copies_are_redelivered_not_lost() -> None:
    session = FakeSession(publisher=FakePublisher(fail={1}))
    offsets, messages, acker = delivered(3, session)
    await acker.ack(
        None,
        [messages[0], messages[2]],
        Failed.of([failed(messages[1], Decision.dead_letter())]),
    )
    assert session.rewinds == [(1, 0.5, None)]
    assert len(session.dropped) == 1
    assert session.dropped[0][0] == 1
    assert "publish failed" in session.dropped[0][1]
    assert session.split == {session.dropped[0][1]: (0, 0, 1, 0)}
    assert offsets.commit_point() == 1


async def test_acks_after_a_revoke_are_dropped_and_reported() -> None:
    session = FakeSession()
    offsets, messages, acker = delivered(3, session)
    offsets.alive = False
    await acker.ack(None, messages[:2], Failed.of([failed(messages[2], Decision.retry(0))]))
    assert session.publisher.retried == []
    assert session.dropped == [(3, "partition revoked before the ack")]
    assert session.split == {REVOKED: (2, 1, 0, 0)}


async def test_acks_of_interleaved_partitions_mark_each_partition() -> None:
    session = FakeSession()
    acker = KafkaAcknowledger(session)  # type: ignore[arg-type]
    a, b = PartitionOffsets(("t", 0), 1), PartitionOffsets(("t", 1), 1)
    from_a = to_messages(
        [ConsumerRecord("t", 0, i, 0, 0, b"k", b"a", None, 1, 1, (("h", b"1"),)) for i in range(4)],
        ("t", 0),
        a,
        acker,
    )
    from_b = to_messages(
        [ConsumerRecord("t", 1, i, 0, 0, None, b"b", None, 0, 1, ()) for i in range(10, 13)],
        ("t", 1),
        b,
        acker,
    )
    assert from_a[1].metadata == {
        "topic": "t",
        "partition": 0,
        "offset": 1,
        "key": b"k",
        "timestamp": 0,
        "headers": (("h", b"1"),),
    }
    await acker.ack(None, [from_a[0], from_b[0], from_a[1], from_b[2], from_a[3]], [])
    assert a.commit_point() == 2
    assert b.commit_point() == 11
    assert a.pending == 1
    assert b.pending == 1
    assert session.touched == {a, b}
    assert session.dropped == []


def test_metadata_is_built_once_when_read_and_can_be_replaced() -> None:
    session = FakeSession()
    _, messages, _ = delivered(2, session)
    message = messages[1]
    assert isinstance(message, KafkaMessage)
    assert (message.topic, message.partition, message.offset) == ("t", 0, 1)
    metadata = message.metadata
    assert metadata is message.metadata
    metadata["seen"] = True
    assert message.metadata["seen"] is True
    message.metadata = {"replaced": 1}
    assert message.metadata == {"replaced": 1}
    # The record as fetched is kept apart from what the pipeline changed.
    message.put_data({"decoded": True})
    assert fetched(message) == Fetched("t", 0, 1, None, b"v1", ())


async def test_a_plain_message_that_replaced_a_fetched_one_is_acked_and_copied() -> None:
    session = FakeSession()
    offsets, messages, acker = delivered(3, session)
    old = messages[1]
    metadata = {**old.metadata, "key": b"k", "headers": (("h", b"1"),)}
    new = Message("décodé", old.acknowledger, old.ack_ref, old.ack_data, metadata, old.attempt)
    await acker.ack(
        old.ack_ref, [messages[0]], Failed.of([failed(new, Decision.dead_letter("bad"))])
    )
    await acker.ack(old.ack_ref, [messages[2]], [])
    assert session.publisher.copies == [Fetched("t", 0, 1, b"k", "décodé".encode(), (("h", b"1"),))]
    assert offsets.commit_point() == 3
    assert session.dropped == []


async def test_successes_after_a_rewound_offset_in_the_same_call_are_dropped() -> None:
    # Ordered mode: the retry of offset 1 reads the partition again from there, so the
    # successes and the discard after it will be read again: the commit never passes them.
    session = FakeSession(ordered=True)
    offsets, messages, acker = delivered(6, session)
    await acker.ack(
        None,
        [messages[0], messages[2], messages[3], messages[5]],
        Failed.of(
            [failed(messages[1], Decision.retry(0.1)), failed(messages[4], Decision.discard())]
        ),
    )
    assert session.rewinds == [(1, 0.1, 2)]
    assert offsets.commit_point() == 1
    assert offsets.pending == 0
    assert session.split == {REWOUND: (3, 0, 0, 1)}
    assert session.dropped == [(4, REWOUND)]


async def test_a_success_of_an_older_epoch_before_the_rewind_still_counts() -> None:
    session = FakeSession(ordered=True)
    offsets, messages, acker = delivered(4, session)
    await acker.ack(None, [], Failed.of([failed(messages[2], Decision.retry(0))]))
    assert session.dropped == []
    # Offsets 0 and 1 were delivered before the rewind (an older epoch) but are below it.
    await acker.ack(None, messages[:2], [])
    assert offsets.commit_point() == 2
    assert session.dropped == []
    await acker.ack(None, [messages[3]], [])
    assert session.split == {REWOUND: (1, 0, 0, 0)}


async def test_without_a_publisher_copies_are_dropped_by_outcome() -> None:
    session = FakeSession()
    session.publisher = None
    offsets, messages, acker = delivered(4, session)
    await acker.ack(
        None,
        [messages[0]],
        Failed.of(
            [
                failed(messages[1], Decision.retry(1)),
                failed(messages[2], Decision.dead_letter()),
                failed(messages[3], Decision.dead_letter()),
            ]
        ),
    )
    assert session.split == {"the connector is closed": (0, 1, 2, 0)}
    assert offsets.commit_point() == 1


async def test_a_partition_rewound_while_copies_were_written_drops_their_acks() -> None:
    session = FakeSession()
    offsets, messages, acker = delivered(3, session)

    class RewindingPublisher(FakePublisher):
        async def dead_letter(self, dead: Sequence[Decided]) -> list[BaseException | None]:
            offsets.rewind(0)  # another ack's rewind while the copy was in flight
            return await super().dead_letter(dead)

    session.publisher = RewindingPublisher()
    await acker.ack(None, [], Failed.of([failed(messages[2], Decision.dead_letter())]))
    assert session.publisher.dead == [2]
    assert session.split == {REWOUND: (0, 0, 1, 0)}
