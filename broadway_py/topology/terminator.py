"""Terminator: the last step of every message, wherever it ends.

Failed messages get their retry decision, ``handle_failed`` sees them (what
it returns replaces them, and a decision it took away or spoilt is made
again by the policy: every failed message reaches its acknowledger decided),
then the messages are counted out of the in-flight registry and their
acknowledger is called, once per (acknowledger, ack_ref) group, with the
failed ones sorted by decision (:class:`~broadway_py.acknowledger.Failed`).
A failed message that was acknowledged on receipt (``acknowledge:
on_receive``) is discarded whatever was decided, and logged: its broker
no longer holds it. The stage that calls :meth:`Terminator.finish` has already let go of them.
When telemetry is on, a call with failed messages reports them (``MessagesFailed``,
a few described) before its ``MessagesAcked``; a call without any costs nothing more.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Sequence

from broadway_py.acknowledger import (
    NO_FAILURES,
    AckedOnReceive,
    Acknowledger,
    Failed,
    Outcomes,
    group_acks,
)
from broadway_py.message import Message
from broadway_py.retry import Decision, RetryPolicy
from broadway_py.telemetry import (
    MAX_FAILURE_SAMPLES,
    AckFailed,
    FailureSample,
    MessagesAcked,
    MessagesFailed,
    Telemetry,
    cut_reason,
)
from broadway_py.topology.callbacks import Callbacks, settle_failed_result
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
            failed = await self._decide(failed)
            self._lost(failed)
            if self.telemetry.enabled:
                self.telemetry.emit(failure_report(failed, stage))
        self.in_flight.settle(len(successful) + len(failed))
        outcomes = Outcomes(len(successful))
        for acknowledger, ack_ref, ok, bad in group_acks(successful, failed):
            grouped = NO_FAILURES
            if bad:
                grouped = Failed.of(bad)  # sorted once: for the acknowledger and the count
                outcomes.add_failed(grouped)
            await self._ack(acknowledger, ack_ref, ok, grouped, stage)
        if self.telemetry.enabled:
            self._report(outcomes, stage)

    async def _decide(self, failed: Sequence[Message]) -> list[Message]:
        """The failed messages, each with its decision, as ``handle_failed`` left them."""
        decide = self.policy.decide
        for message in failed:
            message.decision = decide(message)
        given = list(failed)
        if self.handle_failed is None:
            return given
        try:
            decided = settle_failed_result(given, await self.handle_failed(given[:]))
        except Exception:
            log.exception("handle_failed raised; the failed messages are acked anyway")
            decided = given
        for message in decided:
            if not isinstance(message.decision, Decision):  # taken away: the policy's again
                message.decision = decide(message)
        return decided

    @staticmethod
    def _lost(decided: list[Message]) -> None:
        """Discard the failed messages acked on receipt (nothing to redeliver), and log them."""
        lost = [m for m in decided if isinstance(m.acknowledger, AckedOnReceive)]
        if not lost:
            return
        for message in lost:
            message.decision = Decision.discard("acknowledged on receipt")
        log.warning(
            "%d message(s) failed after they were acknowledged on receipt (producer.acknowledge: "
            "on_receive) and are lost, first: %s",
            len(lost),
            lost[0].status.reason,
        )

    async def finish_group(self, successful: list[Message], stage: str) -> None:
        """:meth:`finish` for messages that all succeeded and share one ack group.

        The caller checked that (with :func:`all_ok_in_one_group`): nothing to
        decide, nothing to sort, one ack.
        """
        self.in_flight.settle(len(successful))
        first = successful[0]
        await self._ack(first.acknowledger, first.ack_ref, successful, NO_FAILURES, stage)
        if self.telemetry.enabled:
            self.telemetry.emit(MessagesAcked(stage, len(successful), 0, 0, 0))

    async def _ack(
        self,
        acknowledger: Acknowledger,
        ack_ref: Hashable,
        successful: Sequence[Message],
        failed: Failed,
        stage: str,
    ) -> None:
        try:
            await acknowledger.ack(ack_ref, successful, failed)
        except Exception as error:
            if self.telemetry.enabled:
                self.telemetry.emit(AckFailed(stage, repr(error)))
            raise

    def _report(self, outcomes: Outcomes, stage: str) -> None:
        self.telemetry.emit(
            MessagesAcked(
                stage,
                outcomes.successful,
                outcomes.retried,
                outcomes.dead_lettered,
                outcomes.discarded,
            )
        )


def failure_report(decided: Sequence[Message], stage: str) -> MessagesFailed:
    """What :class:`MessagesFailed` tells of ``decided`` (failed, each with its decision)."""
    samples = []
    for message in decided[:MAX_FAILURE_SAMPLES]:
        decision = message.decision
        if decision is None:  # every failed message is decided before this: never
            continue
        samples.append(
            FailureSample(
                message.id,
                cut_reason(message.status.reason),
                decision.kind,
                decision.delay,
            )
        )
    return MessagesFailed(stage, len(decided), tuple(samples))
