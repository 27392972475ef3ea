"""An in-process stand-in for aiobotocore's SQS client, for the unit tests.

It keeps one queue's messages with a visibility each, answers the six calls
the connector makes, records every call, and can be told to fail.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, nullcontext, suppress
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import (  # type: ignore[import-untyped, unused-ignore]
    ClientError,
    EndpointConnectionError,
)

from broadway_py.connectors.sqs.client import SqsClient

URL = "http://fake.local/000000000000/"


def client_error(code: str, message: str = "", status: int = 400) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        "Call",
    )


def unreachable() -> EndpointConnectionError:
    return EndpointConnectionError(endpoint_url="http://127.0.0.1:9")


def invalid(entry_id: str) -> dict[str, Any]:
    return {"Id": entry_id, "Code": "ReceiptHandleIsInvalid", "SenderFault": True}


@dataclass
class FakeMessage:
    id: str
    body: str
    group: str | None = None
    receives: int = 0
    visible: bool = True
    handles: list[str] = field(default_factory=list)


class FakeSqs:
    def __init__(self, queues: tuple[str, ...] = ("source", "dlq"), visibility: int = 30) -> None:
        self.queues = set(queues)
        self.visibility = visibility
        self.redrive: dict[str, Any] | None = None
        self.messages: list[FakeMessage] = []
        self.sent: dict[str, list[dict[str, Any]]] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.receives_in_flight = 0
        self.most_receives_in_flight = 0
        self.fail: dict[str, list[BaseException]] = {}
        self.failed_handles: set[str] = set()
        self.duplicate_next = False
        self._ids = itertools.count(1)
        self._changed = asyncio.Event()

    def factory(self) -> Callable[[], AbstractAsyncContextManager[SqsClient]]:
        return lambda: nullcontext(self)

    # -- test side --------------------------------------------------------------------

    def push(self, *bodies: str, group: str | None = None) -> None:
        for body in bodies:
            self.messages.append(FakeMessage(f"m{next(self._ids)}", body, group))
        self._changed.set()

    def calls_of(self, name: str) -> list[dict[str, Any]]:
        return [kwargs for call, kwargs in self.calls if call == name]

    def _maybe_fail(self, name: str) -> None:
        errors = self.fail.get(name)
        if errors:
            raise errors.pop(0)

    def _queue(self, url: str) -> str:
        name = url.rsplit("/", 1)[-1]
        if name not in self.queues:
            raise client_error("AWS.SimpleQueueService.NonExistentQueue", "no such queue")
        return name

    def _by_handle(self, handle: str) -> FakeMessage | None:
        return next((m for m in self.messages if handle in m.handles), None)

    # -- the client's calls ---------------------------------------------------------------

    async def get_queue_url(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("get_queue_url", kwargs))
        self._maybe_fail("get_queue_url")
        name = kwargs["QueueName"]
        self._queue(name)
        return {"QueueUrl": URL + name}

    async def get_queue_attributes(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("get_queue_attributes", kwargs))
        self._maybe_fail("get_queue_attributes")
        name = self._queue(kwargs["QueueUrl"])
        attributes = {
            "VisibilityTimeout": str(self.visibility),
            "ApproximateNumberOfMessages": str(sum(m.visible for m in self.messages)),
        }
        if name.endswith(".fifo"):
            attributes["FifoQueue"] = "true"
        if self.redrive is not None:
            import json

            attributes["RedrivePolicy"] = json.dumps(self.redrive)
        return {"Attributes": attributes}

    async def receive_message(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("receive_message", kwargs))
        self.receives_in_flight += 1
        self.most_receives_in_flight = max(self.most_receives_in_flight, self.receives_in_flight)
        try:
            self._maybe_fail("receive_message")
            self._queue(kwargs["QueueUrl"])
            count = kwargs["MaxNumberOfMessages"]
            assert 1 <= count <= 10
            wait = kwargs.get("WaitTimeSeconds", 0)
            loop = asyncio.get_running_loop()
            until = loop.time() + wait
            while True:
                ready = [m for m in self.messages if m.visible][:count]
                if ready or loop.time() >= until:
                    break
                self._changed.clear()
                with suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), until - loop.time())
            answer: list[dict[str, Any]] = []
            for message in ready:
                message.visible = False
                message.receives += 1
                handle = f"{message.id}-r{message.receives}"
                message.handles.append(handle)
                attributes = {"ApproximateReceiveCount": str(message.receives)}
                if message.group:
                    attributes["MessageGroupId"] = message.group
                answer.append(
                    {
                        "MessageId": message.id,
                        "ReceiptHandle": handle,
                        "Body": message.body,
                        "Attributes": attributes,
                    }
                )
            if self.duplicate_next and answer:
                self.duplicate_next = False
                answer.append(dict(answer[0], ReceiptHandle=answer[0]["ReceiptHandle"] + "-dup"))
            return {"Messages": answer} if answer else {}
        finally:
            self.receives_in_flight -= 1

    async def delete_message_batch(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("delete_message_batch", kwargs))
        self._maybe_fail("delete_message_batch")
        assert len(kwargs["Entries"]) <= 10
        ok, failed = [], []
        for entry in kwargs["Entries"]:
            handle = entry["ReceiptHandle"]
            message = self._by_handle(handle.removesuffix("-dup"))
            if handle in self.failed_handles or message is None:
                failed.append(
                    {"Id": entry["Id"], "Code": "ReceiptHandleIsInvalid", "SenderFault": True}
                )
                continue
            self.messages.remove(message)
            ok.append({"Id": entry["Id"]})
        return {"Successful": ok, "Failed": failed}

    async def change_message_visibility_batch(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("change_message_visibility_batch", kwargs))
        self._maybe_fail("change_message_visibility_batch")
        assert len(kwargs["Entries"]) <= 10
        ok, failed = [], []
        for entry in kwargs["Entries"]:
            handle = entry["ReceiptHandle"]
            message = self._by_handle(handle.removesuffix("-dup"))
            if handle in self.failed_handles or message is None:
                failed.append(
                    {"Id": entry["Id"], "Code": "ReceiptHandleIsInvalid", "SenderFault": True}
                )
                continue
            if entry["VisibilityTimeout"] == 0:
                message.visible = True
                self._changed.set()
            ok.append({"Id": entry["Id"]})
        return {"Successful": ok, "Failed": failed}

    async def send_message_batch(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("send_message_batch", kwargs))
        self._maybe_fail("send_message_batch")
        name = self._queue(kwargs["QueueUrl"])
        assert len(kwargs["Entries"]) <= 10
        self.sent.setdefault(name, []).extend(kwargs["Entries"])
        return {"Successful": [{"Id": e["Id"]} for e in kwargs["Entries"]], "Failed": []}
