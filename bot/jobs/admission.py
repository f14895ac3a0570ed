"""Admission: which queued jobs go to Azure now.

At most ``max_running`` jobs submitting or running at Azure, fair across requesters (the
store's order), none while the endpoint said it is busy (``Control.holding``), and none
its caller holds back (its card is not posted yet). A remix whose parent cannot be
remixed fails with its reason instead, and so does a job whose create failed too often.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.jobs import outcomes
from bot.jobs.config import RunnerConfig
from bot.jobs.control import Control
from bot.jobs.transitions import AT_AZURE, Transitions
from bot.store import Job, JobKind, JobState, StaleState, Store

S = JobState


@dataclass(kw_only=True, eq=False)
class Admission:
    store: Store
    transitions: Transitions
    control: Control  # the hold after a 429, the clock
    config: RunnerConfig
    _held_back: set[int] = field(default_factory=set, init=False)  # queued, not admitted yet

    def hold_back(self, job_id: int) -> None:
        """Do not admit this job until it is released (see ``JobRunner.enqueue``)."""
        self._held_back.add(job_id)

    def release(self, job_id: int) -> None:
        self._held_back.discard(job_id)

    async def admit(self) -> list[Job]:
        """One pass: fail what cannot be made, move what may go to ``submitting``, tell
        the queue its new places. Returns the jobs now submitting, for the runner to drive."""
        admitted: list[Job] = []
        for job in await self.store.blocked_remixes():
            problem = await self.remix_problem(job)
            if problem is not None:
                await self.transitions.fail(job, problem)
        if not self.control.holding():
            free = self.config.max_running - await self.store.count_in_state(*AT_AZURE)
            if free > 0:
                candidates = await self.store.next_jobs_to_admit(free + len(self._held_back))
                for job in [j for j in candidates if j.id not in self._held_back][:free]:
                    if (moved := await self._admit_one(job)) is not None:
                        admitted.append(moved)
        await self.transitions.tell_positions()
        return admitted

    async def _admit_one(self, job: Job) -> Job | None:
        if job.kind == JobKind.REMIX:
            problem = await self.remix_problem(job)
            if problem is not None:
                await self.transitions.fail(job, problem)
                return None
        if job.attempts >= self.config.max_create_attempts:
            await self.transitions.fail(job, outcomes.gave_up(job.attempts))
            return None
        try:
            job = await self.transitions.move(
                job, S.SUBMITTING, attempts=job.attempts + 1, submitted_at=self.control.clock()
            )
        except StaleState:
            return None  # canceled meanwhile
        return job

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
        return None
