"""Terminator: the last step of every message, wherever it ends.

Failed messages get their retry decision, ``handle_failed`` sees them, then
the messages are counted out of the in-flight registry and their acknowledger
is called, once per (acknowledger, ack_ref) group. The stage that calls
:meth:`Terminator.finish` has already let go of them.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Sequence

from broadway_py.acknowledger import Acknowledger, count_decisions, group_acks
from broadway_py.message import Message
from broadway_py.retry import RetryPolicy
from broadway_py.telemetry import AckFailed, MessagesAcked, Telemetry
from broadway_py.topology.callbacks import Callbacks
from broadway_py.topology.in_flight import InFlight

log = logging.getLogger("broadway_py.pipeline")


class Terminator:
    def __init__(
        self,
        policy: RetryPolicy,
        callbacks: Callbacks,
        in_flight: InFlight,
        telemetry: Telemetry,
    ) -> None:
        self.policy = policy
        self.handle_failed = callbacks.handle_failed
        self.in_flight = in_flight
        self.telemetry = telemetry

    async def finish(
        self, successful: Sequence[Message], failed: Sequence[Message], stage: str
    ) -> None:
        if failed:
            decide = self.policy.decide
            for message in failed:
                message.decision = decide(message)
            if self.handle_failed is not None:
                try:
                    await self.handle_failed(list(failed))
                except Exception:
                    log.exception("handle_failed raised; the failed messages are acked anyway")
        self.in_flight.settle(len(successful) + len(failed))
        for acknowledger, ack_ref, ok, bad in group_acks(successful, failed):
            await self._ack(acknowledger, ack_ref, ok, bad, stage)
        if self.telemetry.enabled:
            self._report(successful, failed, stage)

    async def finish_group(self, successful: list[Message], stage: str) -> None:
        """:meth:`finish` for messages that all succeeded and share one ack group.

        The caller checked that (with :func:`all_ok_in_one_group`): nothing to
        decide, nothing to sort, one ack.
        """
        self.in_flight.settle(len(successful))
        first = successful[0]
        await self._ack(first.acknowledger, first.ack_ref, successful, [], stage)
        if self.telemetry.enabled:
            self._report(successful, [], stage)

    async def _ack(
        self,
        acknowledger: Acknowledger,
        ack_ref: Hashable,
        successful: Sequence[Message],
        failed: Sequence[Message],
        stage: str,
    ) -> None:
        try:
            await acknowledger.ack(ack_ref, successful, failed)
        except Exception as error:
            if self.telemetry.enabled:
                self.telemetry.emit(AckFailed(stage, repr(error)))
            raise

    def _report(self, successful: Sequence[Message], failed: Sequence[Message], stage: str) -> None:
        retried, dead, discarded = count_decisions(failed)
        self.telemetry.emit(MessagesAcked(stage, len(successful), retried, dead, discarded))
