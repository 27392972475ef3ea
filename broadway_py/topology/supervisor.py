"""Supervisor: owns every stage task, restarts crashed ones, runs the drain.

Stages form ordered groups: producers (0), processors (1), batchers with their
batch processors (2). A crash in group *g* restarts *g* and every later group
(rest-for-one, as in Broadway: the stages fed by a crashed stage restart with
it). What the restarted groups held (in their channels, open batches and
stages' hands) is taken out of the in-flight registry and handed back to its
broker as failed ("stage crashed"), through the retry policy, so a crash
loses nothing and a message that crashes a stage every time ends
dead-lettered instead of looping. Past ``max_restarts`` restarts within
``max_seconds``, the supervisor gives up and raises PipelineFailed.

A group whose tasks all returned (their inbox closed, or their producer ran
out) closes the inbox of the next group: that is how a drain flows downstream.

A resize (:mod:`broadway_py.topology.resize`) adds stages to a running group
and takes stages out of one (:meth:`Supervisor.add_stage`,
:meth:`Supervisor.remove_stage`): a stage taken out is no longer restarted,
and its task, left to end by itself, is no crash and finishes no group while
others of it run.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from broadway_py.errors import PipelineFailed
from broadway_py.futures import resolve
from broadway_py.message import describe_exception
from broadway_py.options import SupervisorOptions
from broadway_py.telemetry import StageGroup, StageRestarted
from broadway_py.topology.context import StageContext

log = logging.getLogger("broadway_py.supervisor")

StageFactory = Callable[[], Coroutine[Any, Any, None]]


@dataclass
class GroupSpec:
    """One stage group: how to start its tasks, and how to close its input channels."""

    kind: StageGroup
    stages: list[tuple[str, StageFactory]]
    close_inputs: Callable[[], None]
    running: dict[asyncio.Task[None], str] = field(default_factory=dict)
    finished: bool = False


class Supervisor:
    def __init__(
        self, groups: list[GroupSpec], options: SupervisorOptions, context: StageContext
    ) -> None:
        self.groups = groups
        self.options = options
        # Where a crashed stage's messages are found, and how they are failed and reported.
        self.in_flight = context.settings.in_flight
        self.terminator = context.terminator
        self.telemetry = context.settings.telemetry
        self.restarts: deque[float] = deque()
        self.restart_count = 0
        self._changed: asyncio.Future[None] | None = None
        self._started = False

    async def run(self) -> None:
        """Run until every group finished; raises PipelineFailed on giving up."""
        self._started = True
        for index in range(len(self.groups)):
            self._start(index)
        try:
            while True:
                tasks = {t: i for i, g in enumerate(self.groups) for t in g.running}
                if not tasks:
                    return
                # A stage added meanwhile (a resize) is watched from the next round.
                changed = self._changed = asyncio.get_running_loop().create_future()
                await asyncio.wait([*tasks, changed], return_when=asyncio.FIRST_COMPLETED)
                done = [t for t in tasks if t.done()]
                for task in sorted(done, key=tasks.__getitem__):
                    index = tasks[task]
                    group = self.groups[index]
                    if task not in group.running:
                        continue  # cancelled by a restart handled earlier in this round
                    name = group.running.pop(task)
                    error = task.exception() if not task.cancelled() else None
                    if error is not None:
                        await self._restart_from(index, name, error)
                    elif not group.running:
                        self._group_finished(index)
        finally:
            await self._cancel_from(0)

    def _start(self, index: int) -> None:
        group = self.groups[index]
        group.finished = False
        for name, factory in group.stages:
            task = asyncio.create_task(factory(), name=f"broadway:{name}")
            group.running[task] = name

    def add_stage(self, kind: StageGroup, name: str, factory: StageFactory) -> None:
        """One more stage in the running group ``kind`` (a resize); restarted with its group."""
        group = self._group(kind)
        group.stages.append((name, factory))
        if not self._started:
            return  # started with the rest
        task = asyncio.create_task(factory(), name=f"broadway:{name}")
        group.running[task] = name
        resolve(self._changed)

    def remove_stage(self, kind: StageGroup, name: str) -> asyncio.Task[None] | None:
        """Take stage ``name`` out of group ``kind``: never restarted again.

        Returns its task, if running, left to end by itself (a resize makes it end).
        """
        group = self._group(kind)
        group.stages = [(n, f) for n, f in group.stages if n != name]
        return next((t for t, n in group.running.items() if n == name), None)

    def running_stages(self, kind: StageGroup) -> list[str]:
        """The names of the running stages of group ``kind``."""
        return sorted(self._group(kind).running.values())

    def _group(self, kind: StageGroup) -> GroupSpec:
        return next(g for g in self.groups if g.kind == kind)

    def _group_finished(self, index: int) -> None:
        self.groups[index].finished = True
        if index + 1 < len(self.groups):
            self.groups[index + 1].close_inputs()

    async def _cancel_from(self, index: int) -> None:
        tasks = [t for g in self.groups[index:] for t in g.running]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        for group in self.groups[index:]:
            group.running.clear()

    async def _restart_from(self, index: int, stage: str, error: BaseException) -> None:
        kind = self.groups[index].kind
        reason = f"stage {stage} crashed: {describe_exception(error)}"
        log.error("%s; restarting the %s stages and those after them", reason, kind, exc_info=error)
        now = asyncio.get_running_loop().time()
        self.restarts.append(now)
        while self.restarts and self.restarts[0] < now - self.options.max_seconds:
            self.restarts.popleft()
        giving_up = len(self.restarts) > self.options.max_restarts
        await self._cancel_from(index)
        # Empties the restarted groups' channels too (waking blocked putters).
        lost = self.in_flight.take_held_from(index)
        for message in lost:
            message.failed(reason)
        if lost:
            try:
                await self.terminator.finish([], lost, "supervisor")
            except Exception:
                log.exception("could not hand %d messages back to their broker", len(lost))
        if giving_up:
            raise PipelineFailed(
                f"{reason}; more than {self.options.max_restarts} restarts within "
                f"{self.options.max_seconds}s, giving up"
            ) from error
        self.restart_count += 1
        if self.telemetry.enabled:
            self.telemetry.emit(StageRestarted(kind, stage, reason, len(lost)))
        for later in range(index, len(self.groups)):
            self._start(later)
        # A group upstream that already finished will never close these again.
        if index > 0 and self.groups[index - 1].finished:
            self.groups[index].close_inputs()
