"""The dead-letter queue, for ``broadway-py dlq``: read, replay and purge it.

The dead-letter queue is the ``dead_letter`` option's queue, or, with
``redrive`` (or unset, on a queue with a RedrivePolicy), the policy's
``deadLetterTargetArn``. A copy the acknowledger sent (:mod:`.dead_letter`)
carries the reason, source queue, attempt and the message's id in
``broadway.*`` message attributes; one SQS moved by its redrive policy carries
none of them (its source is then the pipeline's queue, its id SQS's own).
A dead letter's age is from the copy's ``SentTimestamp``: when it was sent to
the dead-letter queue (under redrive, SQS keeps the original's, so it is the
age since the message was first sent).

- **peek** receives with a visibility timeout of :data:`PEEK_VISIBILITY`
  seconds and then sets every message it took back to visibility 0, so
  nothing is consumed. (A receive with visibility 0 would return the same
  first messages again and again.) The caveats: while a list runs its
  messages are invisible to others, a list that dies leaves them invisible
  for up to that long, and every receive raises the copy's
  ``ApproximateReceiveCount`` (which matters only if the dead-letter queue has
  a redrive policy of its own).
- **replay** sends each chosen message to its source queue
  (``SendMessageBatch``) without the ``broadway.*`` attributes (a new message:
  its receive count, so its attempt, starts again), and deletes it from the
  dead-letter queue only once SQS accepted that send. A replay killed between
  the two leaves it in the dead-letter queue: the next replay sends it again.
  A replay receives with a visibility timeout of :data:`REPLAY_VISIBILITY`
  seconds (each batch of 10 is sent and deleted well within it): one that is
  killed leaves its last batch invisible that long, and the next replay sends
  it once it is visible again. Messages not chosen are made visible again at
  the end; a replay stops when a receive returns only messages it left in
  place (their visibility ran out while it worked).
- **purge** is ``PurgeQueue`` (SQS allows one a minute per queue); the count
  it reports is the queue's approximate depth just before.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Any

from broadway_py.connectors.sqs.client import (
    aiobotocore_client_factory,
    describe_queue,
    queue_depth,
    resolve_queue_url,
)
from broadway_py.connectors.sqs.dead_letter import (
    ATTEMPT_ATTRIBUTE,
    MESSAGE_ID_ATTRIBUTE,
    REASON_ATTRIBUTE,
    SOURCE_ATTRIBUTE,
)
from broadway_py.connectors.sqs.errors import translate
from broadway_py.connectors.sqs.options import Options, queue_name_of
from broadway_py.connectors.toolkit.dead_letters import (
    DeadLetter,
    NoDeadLetterDestination,
    Select,
)

PEEK_VISIBILITY = 30
REPLAY_VISIBILITY = 20
REPLAY_GROUP = "broadway-replay"
_OURS = frozenset({REASON_ATTRIBUTE, SOURCE_ATTRIBUTE, ATTEMPT_ATTRIBUTE, MESSAGE_ID_ATTRIBUTE})


def _string(attributes: dict[str, Any], name: str) -> str | None:
    value = attributes.get(name)
    if isinstance(value, dict) and isinstance(value.get("StringValue"), str):
        return str(value["StringValue"])
    return None


def read(message: dict[str, Any], default_source: str | None) -> DeadLetter:
    """A dead letter from a received message of the dead-letter queue."""
    attributes: dict[str, Any] = message.get("MessageAttributes") or {}
    system: dict[str, str] = message.get("Attributes") or {}
    attempt = _string(attributes, ATTEMPT_ATTRIBUTE)
    sent = system.get("SentTimestamp")
    return DeadLetter(
        id=_string(attributes, MESSAGE_ID_ATTRIBUTE) or str(message["MessageId"]),
        attempts=int(attempt) if attempt and attempt.isdigit() else None,
        reason=_string(attributes, REASON_ATTRIBUTE),
        source=_string(attributes, SOURCE_ATTRIBUTE) or default_source,
        dead_lettered_at=int(sent) / 1000 if sent and sent.isdigit() else None,
        payload=str(message.get("Body", "")).encode(),
        position=str(message["MessageId"]),
    )


def replay_entry(
    entry_id: str, message: dict[str, Any], letter: DeadLetter, fifo: bool
) -> dict[str, Any]:
    """A SendMessageBatch entry that puts the dead letter back in its source queue."""
    attributes: dict[str, Any] = {}
    for name, value in (message.get("MessageAttributes") or {}).items():
        if name in _OURS or not isinstance(value, dict):
            continue
        kept = {k: value[k] for k in ("DataType", "StringValue", "BinaryValue") if k in value}
        if "DataType" in kept and len(kept) == 2:
            attributes[name] = kept
    entry: dict[str, Any] = {
        "Id": entry_id,
        "MessageBody": str(message.get("Body", "")),
        "MessageAttributes": attributes,
    }
    if fifo:
        group = (message.get("Attributes") or {}).get("MessageGroupId")
        entry["MessageGroupId"] = group or REPLAY_GROUP
        entry["MessageDeduplicationId"] = letter.id[:128]
    return entry


class SqsDeadLetters:
    """The dead-letter queue of an SQS pipeline."""

    def __init__(self, options: Options) -> None:
        self._options = options
        self._stack = AsyncExitStack()
        self._client: Any = None
        self._url: str | None = None
        self._default_source: str | None = None
        self._sources: dict[str, str] = {}

    @property
    def destination(self) -> str:
        name = queue_name_of(self._url) if self._url else self._options.dead_letter or "?"
        return f"SQS queue {name!r}"

    async def _open(self) -> tuple[Any, str]:
        if self._client is not None and self._url is not None:
            return self._client, self._url
        options = self._options
        make = aiobotocore_client_factory(options, 2)
        self._client = await self._stack.enter_async_context(make())
        try:
            if options.dead_letter_mode == "queue":
                assert options.dead_letter is not None
                self._url = await resolve_queue_url(self._client, options.dead_letter)
            else:
                info = await describe_queue(self._client, options)
                if info.dead_letter_target is None:
                    raise NoDeadLetterDestination(
                        f"SQS queue {info.name!r} has no dead-letter queue: no dead_letter "
                        "option and no RedrivePolicy"
                    )
                self._default_source = info.name
                self._url = await resolve_queue_url(
                    self._client, info.dead_letter_target.rsplit(":", 1)[-1]
                )
        except NoDeadLetterDestination:
            raise
        except Exception as error:
            raise translate(
                error, options.dead_letter or options.queue, "the dead-letter queue"
            ) from error
        return self._client, self._url

    async def _receive(self, visibility: int, most: int = 10) -> list[dict[str, Any]]:
        """One receive of at most ``most`` (1-10) messages; empty when none came in 1 s."""
        client, url = await self._open()
        try:
            response = await client.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=max(1, min(10, most)),
                VisibilityTimeout=visibility,
                WaitTimeSeconds=1,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
        except Exception as error:
            raise translate(error, url, "receive from the dead-letter queue") from error
        messages: list[dict[str, Any]] = response.get("Messages") or []
        return messages

    async def _release(self, receipts: list[str]) -> None:
        """Make these messages visible again at once."""
        client, url = await self._open()
        for start in range(0, len(receipts), 10):
            chunk = receipts[start : start + 10]
            await client.change_message_visibility_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": r, "VisibilityTimeout": 0}
                    for i, r in enumerate(chunk)
                ],
            )

    async def peek(self, limit: int) -> list[DeadLetter]:
        found: dict[str, DeadLetter] = {}
        receipts: list[str] = []
        try:
            while len(found) < limit:
                messages = await self._receive(PEEK_VISIBILITY, limit - len(found))
                if not messages:
                    break
                for message in messages:
                    receipts.append(str(message["ReceiptHandle"]))
                    position = str(message["MessageId"])
                    if position not in found:
                        found[position] = read(message, self._default_source)
        finally:
            if receipts:
                await self._release(receipts)
        return sorted(found.values(), key=lambda d: d.dead_lettered_at or 0.0)[:limit]

    async def _source_url(self, source: str) -> str:
        url = self._sources.get(source)
        if url is None:
            client, _ = await self._open()
            try:
                url = await resolve_queue_url(client, source)
            except Exception as error:
                raise translate(error, source, "the source queue of a dead letter") from error
            self._sources[source] = url
        return url

    async def replay(
        self,
        select: Select,
        *,
        limit: int | None = None,
        on_replayed: Callable[[DeadLetter], None] | None = None,
    ) -> int:
        client, url = await self._open()
        replayed = 0
        kept: dict[str, str] = {}  # message id -> latest receipt handle, of those not chosen
        try:
            while limit is None or replayed < limit:
                most = 10 if limit is None else limit - replayed
                messages = await self._receive(REPLAY_VISIBILITY, most)
                if not messages:
                    break
                if all(str(m["MessageId"]) in kept for m in messages):
                    break  # only those left in place came back: every other one was seen
                chosen: list[tuple[dict[str, Any], DeadLetter]] = []
                for message in messages:
                    position = str(message["MessageId"])
                    letter = read(message, self._default_source)
                    if position in kept or letter.source is None or not select(letter):
                        kept[position] = str(message["ReceiptHandle"])
                    else:
                        chosen.append((message, letter))
                if chosen:
                    replayed += await self._send_back(client, url, chosen, on_replayed)
        finally:
            if kept:
                await self._release(list(kept.values()))
        return replayed

    async def _send_back(
        self,
        client: Any,
        url: str,
        chosen: list[tuple[dict[str, Any], DeadLetter]],
        on_replayed: Callable[[DeadLetter], None] | None,
    ) -> int:
        by_source: dict[str, list[tuple[str, dict[str, Any], DeadLetter]]] = {}
        for index, (message, letter) in enumerate(chosen):
            assert letter.source is not None
            by_source.setdefault(letter.source, []).append((str(index), message, letter))
        sent = 0
        for source, items in by_source.items():
            target = await self._source_url(source)
            fifo = queue_name_of(target).endswith(".fifo")
            try:
                response = await client.send_message_batch(
                    QueueUrl=target,
                    Entries=[replay_entry(i, m, d, fifo) for i, m, d in items],
                )
            except Exception as error:
                raise translate(error, source, "replay to the source queue") from error
            accepted = {str(done["Id"]) for done in response.get("Successful") or []}
            confirmed = [(i, m, d) for i, m, d in items if i in accepted]
            if confirmed:  # delete only what SQS accepted at the source
                await client.delete_message_batch(
                    QueueUrl=url,
                    Entries=[
                        {"Id": i, "ReceiptHandle": m["ReceiptHandle"]} for i, m, _ in confirmed
                    ],
                )
            for _, _, letter in confirmed:
                sent += 1
                if on_replayed is not None:
                    on_replayed(letter)
            failed = response.get("Failed") or []
            if failed:
                detail = failed[0].get("Message") or failed[0].get("Code") or "refused"
                raise translate(
                    RuntimeError(f"SQS refused {len(failed)} replayed messages: {detail}"),
                    source,
                    "replay to the source queue",
                )
        return sent

    async def purge(self) -> int:
        client, url = await self._open()
        try:
            depth = await queue_depth(client, url)
            await client.purge_queue(QueueUrl=url)
        except Exception as error:
            raise translate(error, url, "purge the dead-letter queue") from error
        return depth

    async def close(self) -> None:
        self._client = None
        await self._stack.aclose()


def open_dead_letters(options: Options) -> SqsDeadLetters:
    return SqsDeadLetters(options)
