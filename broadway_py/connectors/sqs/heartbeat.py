"""The visibility heartbeat: keeps messages that are still in flight invisible.

One task per producer (never one per message) wakes every ``margin / 2``
seconds (every second at most), finds the held messages whose visibility
ends within ``margin`` seconds, and extends them with ``ChangeMessageVisibilityBatch`` (10 per call)
to ``extension`` seconds from now. A slow handler therefore never lets its
message become visible again and be delivered a second time.

The clock is injected: :meth:`Heartbeat.tick` does one pass at ``clock()``,
which is how the unit tests drive it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from broadway_py.connectors.sqs.batching import BatchResult, batches, run_batch
from broadway_py.connectors.sqs.client import SqsClient
from broadway_py.connectors.sqs.errors import translate
from broadway_py.connectors.sqs.ledger import Ledger, Received, Stats

log = logging.getLogger("broadway_py.connectors.sqs")

MIN_INTERVAL = 0.05
MAX_INTERVAL = 1.0


class Heartbeat:
    def __init__(
        self,
        client: SqsClient,
        queue_url: str,
        queue_name: str,
        ledger: Ledger,
        stats: Stats,
        margin: float,
        extension: int,
        clock: Callable[[], float],
    ) -> None:
        if margin <= 0 or extension <= 0:
            raise ValueError("margin and extension must be above 0")
        self.client = client
        self.queue_url = queue_url
        self.queue_name = queue_name
        self.ledger = ledger
        self.stats = stats
        self.margin = margin
        self.extension = extension
        self.clock = clock
        self._failing = False

    @property
    def interval(self) -> float:
        """Seconds between passes: a message is extended with margin - interval left.

        At most a second, so a pass that comes late (a busy loop, a slow call)
        still leaves most of the margin.
        """
        return min(max(self.margin / 2, MIN_INTERVAL), MAX_INTERVAL)

    async def run(self) -> None:
        """Tick forever, every :attr:`interval` seconds (cancel to stop)."""
        while True:
            await asyncio.sleep(self.interval)
            await self.tick()

    async def tick(self) -> int:
        """Extend what is due now; returns how many messages were extended."""
        now = self.clock()
        due = self.ledger.due(now, self.margin)
        if not due:
            return 0
        chunks = list(batches(due))
        results = await asyncio.gather(
            *(self._extend(chunk) for chunk in chunks), return_exceptions=True
        )
        extended = 0
        held = self.ledger.held
        until = now + self.extension
        for outcome in results:
            if isinstance(outcome, BaseException):
                if isinstance(outcome, asyncio.CancelledError):
                    raise outcome
                self._report(f"{translate(outcome, self.queue_name, 'heartbeat')}")
                continue
            for record in outcome.succeeded:
                if held.get(record.message_id) is record:
                    record.deadline = max(record.deadline, until)
                    extended += 1
            for failure in outcome.failed:
                if failure.sender_fault:
                    # Deleted meanwhile, or past SQS's 12-hour limit: extending cannot help.
                    failure.item.extendable = False
                    log.debug(
                        "heartbeat: message %s cannot be extended: %s: %s",
                        failure.item.message_id,
                        failure.code,
                        failure.message,
                    )
        if extended and self._failing:
            self._failing = False
            log.info("heartbeat on %s works again", self.queue_name)
        self.stats.extended += extended
        return extended

    async def _extend(self, records: list[Received]) -> BatchResult[Received]:
        extension = self.extension

        def entry(entry_id: str, record: Received) -> dict[str, Any]:
            return {
                "Id": entry_id,
                "ReceiptHandle": record.receipt_handle,
                "VisibilityTimeout": extension,
            }

        async def call(entries: list[dict[str, Any]]) -> dict[str, Any]:
            return await self.client.change_message_visibility_batch(
                QueueUrl=self.queue_url, Entries=entries
            )

        return await run_batch(records, entry, call)

    def _report(self, reason: str) -> None:
        if not self._failing:
            self._failing = True
            log.warning("heartbeat could not extend visibility: %s; retrying", reason)
        else:
            log.debug("heartbeat still failing: %s", reason)
