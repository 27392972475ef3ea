"""The one scenario every fault case runs, on any broker: seed, run, fault, finish, count.

Why one: the cases differ only in the fault they inject between "the pipeline
has handled part of the workload" and "the pipeline has finished it"; how the
workload is seeded, when it counts as finished and how the outcome is counted
are the same for every broker and every fault.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path

from tests.fault.adapter import Adapter
from tests.fault.service import RETRY, Service, pipeline_file
from tests.fault.workload import Outcome, Records, expected_dead, expected_ok
from tests.support import wait_until

PATIENCE = 60.0
POLL = 0.2
SETTLE = 10.0


class Scenario:
    """A case on one broker: the pipeline file, the handler's record, the processes."""

    def __init__(
        self, adapter: Adapter, folder: Path, case: str, retry: dict[str, float] | None = None
    ) -> None:
        self.adapter = adapter
        self.case = f"{adapter.name} {case}"
        self.record = folder / f"{adapter.name}-{case}.records"
        sections = adapter.sections()
        if retry:
            sections["retry"] = {**RETRY, **retry}
        self.config = pipeline_file(
            folder, f"fault-{adapter.name}-{case}", adapter.producer(), **sections
        )
        self.services: list[Service] = []

    def records(self) -> Records:
        return Records.read(self.record)

    async def start(self) -> Service:
        service = await Service(self.config, self.record, self.adapter.env).start()
        self.services.append(service)
        return service

    async def handled(self, service: Service, at_least: int, patience: float = PATIENCE) -> None:
        """Wait until ``at_least`` distinct ids were handled (the process must stay up)."""

        def enough() -> bool:
            service.assert_alive()
            return self.records().handled() >= at_least

        await wait_until(enough, patience, f"{at_least} ids handled ({self.case})", POLL)

    async def finished(self, service: Service, patience: float = PATIENCE) -> None:
        """Wait until every id is handled or dead-lettered and the broker holds nothing more.

        The process must stay up. Waiting for the broker too matters after a
        fault: a redelivered duplicate of an id already handled may still be
        on its way (a fresh retry copy waiting out its delay, an offset not
        yet committed); it is handled, not stopped half-way, before the
        outcome is counted.
        """
        ok = expected_ok(self.adapter.count)
        dead = expected_dead(self.adapter.count)

        async def done() -> bool:
            service.assert_alive()
            if not ok <= set(self.records().ok):
                return False
            if not dead <= set(await self.adapter.dead_letters()):
                return False
            return await self.adapter.left() == 0

        await wait_until(done, patience, f"every id handled or dead-lettered ({self.case})", POLL)

    async def stop(self, service: Service) -> float:
        """SIGTERM: exit 0 within the drain timeout; returns the seconds it took."""
        code, took = await service.terminate()
        assert code == 0, f"{self.case}: exit {code} after SIGTERM:\n{service.err()[-3000:]}"
        return took

    async def outcome(self) -> Outcome:
        """Counted on the broker once no process of the case runs any more."""
        assert not any(s.running for s in self.services)
        left = -1

        async def settled() -> bool:
            nonlocal left
            left = await self.adapter.left()
            return left == 0

        # A broker can count the last acks of a drain a moment late; what stays is reported.
        with contextlib.suppress(AssertionError):
            await wait_until(settled, SETTLE, f"the source to be finished ({self.case})", 0.5)
        return Outcome(
            self.case,
            self.adapter.count,
            self.records(),
            await self.adapter.dead_letters(),
            left,
        )

    async def close(self) -> None:
        for service in self.services:
            await service.close()

    async def __aenter__(self) -> Scenario:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


Fault = Callable[[Scenario, Service], Awaitable[Service]]
"""Breaks something while a process runs; returns the process that is to finish the work."""


async def interrupted(
    adapter: Adapter,
    folder: Path,
    case: str,
    fault: Fault,
    at: int,
    retry: dict[str, float] | None = None,
) -> Outcome:
    """The case: start, wait for ``at`` ids handled, ``fault``, then finish and count."""
    async with Scenario(adapter, folder, case, retry) as scenario:
        service = await scenario.start()
        await scenario.handled(service, at)
        survivor = await fault(scenario, service)
        return await run_through(scenario, survivor)


async def run_through(scenario: Scenario, service: Service) -> Outcome:
    """Let ``service`` finish the workload, stop it with SIGTERM and count.

    When it does not finish, the outcome is still counted, so the failure
    says what was lost rather than only that time ran out.
    """
    unfinished: list[str] = []
    try:
        await scenario.finished(service)
    except AssertionError as error:
        unfinished.append(str(error).splitlines()[0])
    if service.running:
        await scenario.stop(service)
    outcome = await scenario.outcome()
    print(outcome.line())
    problems = unfinished + outcome.problems()
    assert not problems, f"{outcome.line()}: {'; '.join(problems)}"
    return outcome
