"""Admission: which queued jobs go to Azure now, and to which backend of the pool.

Each backend has at most its ``max_running`` jobs submitting or running (counted by the
backend the job rows name), jobs are taken fair across requesters (the store's order),
none go to a backend that said it is busy (``Pool.pause``) or is out of rotation, and none
its caller holds back (its card is not posted yet). A job goes to the least loaded backend
(running / cap), ties to the higher weight; a remix goes where its parent's video is. A
remix whose parent cannot be remixed fails with its reason instead, and so does a job
whose create failed too often.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from bot.jobs import outcomes
from bot.jobs.config import RunnerConfig
from bot.jobs.control import Control
from bot.jobs.pool import DEFAULT_BACKEND, Backend, Pool
from bot.jobs.transitions import Transitions
from bot.store import Job, JobKind, JobState, StaleState, Store

S = JobState


@dataclass(kw_only=True, eq=False)
class Admission:
    store: Store
    transitions: Transitions
    control: Control  # the clock
    config: RunnerConfig
    pool: Pool
    _held_back: set[int] = field(default_factory=set, init=False)  # queued, not admitted yet

    def hold_back(self, job_id: int) -> None:
        """Do not admit this job until it is released (see ``JobRunner.enqueue``)."""
        self._held_back.add(job_id)

    def release(self, job_id: int) -> None:
        self._held_back.discard(job_id)

    async def admit(self, drive: Callable[[Job], None]) -> None:
        """One pass: fail what cannot be made, move what may go to ``submitting``, tell
        the queue its new places. ``drive`` is handed each job as soon as it is admitted,
        so its create does not wait for the rest of the pass (the places, the other jobs)."""
        for job in await self.store.blocked_remixes():
            problem = await self.remix_problem(job)
            if problem is not None:
                await self.transitions.fail(job, problem)
        running = await self.store.running_by_backend()
        free = {b.name: b.max_running - running.get(b.name, 0) for b in self.pool.admitting()}
        slots = sum(max(0, n) for n in free.values())
        if slots > 0:
            # A few more than the free slots: a remix bound to a full backend waits.
            limit = slots + len(self._held_back) + 10
            for job in await self.store.next_jobs_to_admit(limit):
                if not any(n > 0 for n in free.values()):
                    break
                if job.id in self._held_back:
                    continue
                if (moved := await self._admit_one(job, free, running)) is not None:
                    drive(moved)
        await self.transitions.tell_positions()

    def _choose(
        self, free: dict[str, int], running: dict[str | None, int], only: str | None = None
    ) -> Backend | None:
        """The least loaded backend with a free slot (ties: the higher weight)."""
        options = [
            self.pool.backends[name]
            for name, n in free.items()
            if n > 0 and (only is None or name == only)
        ]
        if not options:
            return None
        return min(options, key=lambda b: (running.get(b.name, 0) / b.max_running, -b.weight))

    async def _admit_one(
        self, job: Job, free: dict[str, int], running: dict[str | None, int]
    ) -> Job | None:
        only = None
        if job.kind == JobKind.REMIX:
            problem = await self.remix_problem(job)
            if problem is not None:
                await self.transitions.fail(job, problem)
                return None
            only = await self._parent_backend(job)
        backend = self._choose(free, running, only)
        if backend is None:
            return None  # its parent's backend is full or paused: it waits its turn
        if job.attempts >= self.config.max_create_attempts:
            await self.transitions.fail(job, outcomes.gave_up(job.attempts))
            return None
        try:
            job = await self.transitions.move(
                job,
                S.SUBMITTING,
                attempts=job.attempts + 1,
                submitted_at=self.control.clock(),
                backend=backend.name,
            )
        except StaleState:
            return None  # canceled meanwhile
        free[backend.name] -= 1
        running[backend.name] = running.get(backend.name, 0) + 1
        return job

    async def _parent_backend(self, job: Job) -> str:
        """The backend a remix must go to: its parent's (video ids are per resource)."""
        parent = await self.store.get_job(job.parent_job_id) if job.parent_job_id else None
        if parent is not None and (backend := self.pool.get(parent.backend)) is not None:
            return backend.name
        return next(iter(self.pool.backends))

    async def remix_problem(self, job: Job) -> outcomes.Outcome | None:
        """Why this remix cannot be made (its parent is unknown or cannot be remixed)."""
        if job.parent_job_id is None:
            return (
                None
                if job.parent_video_id
                else outcomes.parent_unavailable("that video", "is unknown")
            )
        return self.parent_problem(await self.store.get_job(job.parent_job_id))

    def parent_problem(self, parent: Job | None) -> outcomes.Outcome | None:
        """Why this job's video cannot be remixed (failed, canceled, deleted, expired)."""
        label = (parent.version_label if parent else None) or "that version"
        if parent is None:
            return outcomes.parent_unavailable(label, "does not exist")
        if parent.state in (S.FAILED, S.CANCELED):
            why = "failed" if parent.state == S.FAILED else "was canceled"
            return outcomes.parent_unavailable(label, f"{why} and has no video")
        if parent.state == S.DELETED:
            return outcomes.parent_unavailable(label, "was deleted")
        if parent.state == S.DELIVERED and self.transitions.expired(
            parent, self.config.remix_margin
        ):
            return outcomes.parent_unavailable(
                label, "expired (the video service keeps videos for 24 hours)"
            )
        if parent.state == S.DELIVERED:
            return self.backend_problem(label, parent.backend)
        return None

    def backend_problem(self, label: str, name: str | None) -> outcomes.Outcome | None:
        """A parent's video lives at its backend: gone from the configuration, or out of
        rotation while others are in it, the remix cannot be made anywhere."""
        shown = name or DEFAULT_BACKEND
        if self.pool.get(name) is None:
            return outcomes.backend_gone(label, shown, "is no longer configured")
        if not self.pool.in_rotation(name) and self.pool.others_in_rotation(name):
            why = self.pool.health[shown].reason or "it does not answer"
            return outcomes.backend_gone(label, shown, f"is out of service ({why})")
        return None
