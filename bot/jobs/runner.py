"""JobRunner: owns all background work on jobs, and what the Slack side calls.

It wires the pieces and runs them: admission (``Admission``: at most ``max_running``
submitting or running at Azure, fair across requesters), one task per admitted job that
drives it through the ``Pipeline`` (the runner keeps a reference to each), the clean-up of
canceled and deleted videos (``Cleaner``), and the resumption of every unfinished job from
its row at start-up. Every change to a job goes through one ``Transitions`` (checked,
logged, told to the Delivery); waits and stops through one ``Control``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from bot.jobs import outcomes
from bot.jobs.admission import Admission
from bot.jobs.cleanup import Cleaner
from bot.jobs.config import RunnerConfig
from bot.jobs.control import Control
from bot.jobs.delivery import Delivery
from bot.jobs.pipeline import Pipeline
from bot.jobs.polling import CompletionTimes
from bot.jobs.pool import DEFAULT_BACKEND, AdminNotices, Backend, Pool
from bot.jobs.transitions import Transitions
from bot.jobs.workfiles import WorkFiles
from bot.sora import SoraClient
from bot.store import (
    UNFINISHED,
    Job,
    JobKind,
    JobState,
    LimitReached,
    Limits,
    NewJob,
    StaleState,
    Store,
)

log = logging.getLogger("bot.jobs")
S = JobState
MOVABLE = (S.SUBMITTING, S.RUNNING, S.DOWNLOADING)  # at a backend, not delivered yet


class QueueFull(Exception):
    def __init__(self, user_id: str, limit: int) -> None:
        super().__init__(f"{user_id} already has {limit} videos waiting")
        self.user_id = user_id
        self.limit = limit


class CannotCancel(Exception):
    """The job is past the point where it can be stopped (it is being delivered)."""


@dataclass(frozen=True)
class DeleteResult:
    job: Job
    provider_kept: bool  # the endpoint refused DELETE: it keeps the video until it expires


class JobRunner:
    def __init__(
        self,
        store: Store,
        sora: SoraClient | Sequence[Backend],
        delivery: Delivery,
        config: RunnerConfig,
        *,
        clock: Callable[[], float] = time.time,
        notices: AdminNotices | None = None,
    ) -> None:
        """``sora``: one client (a pool of one named "default", capped at
        ``config.max_running``) or the pool's backends."""
        self.store = store
        backends = (
            [Backend(name=DEFAULT_BACKEND, sora=sora, max_running=config.max_running)]
            if isinstance(sora, SoraClient)
            else list(sora)
        )
        self.pool = Pool(backends, clock=clock, policy=config.health, notices=notices)
        self.pool.on_change = self._backend_changed
        self.delivery = delivery
        self.config = config
        self.clock = clock
        self.control = Control(clock=clock)
        self.files = WorkFiles(config.work_dir)
        self.transitions = Transitions(
            store=store,
            delivery=delivery,
            files=self.files,
            clock=clock,
            video_ttl=config.video_ttl,
            wake=self.control.wake,
        )
        self.pipeline = Pipeline(
            pool=self.pool,
            transitions=self.transitions,
            control=self.control,
            store=store,
            files=self.files,
            delivery=delivery,
            config=config,
            clock=clock,
            completions=CompletionTimes(),
        )
        self.admission = Admission(
            store=store,
            transitions=self.transitions,
            control=self.control,
            config=config,
            pool=self.pool,
        )
        self.cleaner = Cleaner(
            store=store, pool=self.pool, delivery=delivery, transitions=self.transitions
        )
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._loops: set[asyncio.Task[None]] = set()
        self._steps: dict[int, S] = {}  # the step each job's task is in
        # Jobs admitted again while the task of their previous turn was still ending (it
        # requeued the job, then told the card): driven as soon as that task ends.
        self._next_turn: dict[int, Job] = {}
        self._started = False

    # -- life cycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Resume every unfinished job from its row, then start admitting and cleaning."""
        if self._started:
            return
        self._started = True
        for model, size, seconds, took in await self.store.completion_times():
            self.pipeline.completions.record((model, size, seconds), took)  # what jobs took
        unfinished = await self.store.jobs_to_resume()
        removed = await self.files.sweep(unfinished)
        if removed:
            log.info("removed %d work files no unfinished job needs", removed)
        resumed = [j for j in unfinished if j.state != S.QUEUED]
        for job in resumed:
            self.pipeline.resume(job)
            self._spawn(job)
        if resumed:
            log.info("resumed %d jobs in flight", len(resumed))
        self._loop(self._admission_loop(), "admission")
        cleaning = self.cleaner.run(
            stopped=self.control.stopped, interval=self.config.cleanup_interval, busy=self._tasks
        )
        self._loop(cleaning, "cleanup")
        self._loop(self.pool.run(self.control.stopped), "backend health")

    async def stop(self, grace: float = 8.0) -> None:
        """Stop admitting, let steps in flight finish for ``grace`` s, then cancel the rest.

        Nothing is lost: every job's state is in the store, and a restart resumes it.
        """
        self.control.stop()
        # A download starts again from the beginning at the next start: no need to wait for
        # one (a slow or stalled download would hold the stop for the whole grace period).
        for job_id, task in self._tasks.items():
            if self._steps.get(job_id) == S.DOWNLOADING:
                task.cancel()
        pending = [*self._tasks.values(), *self._loops]
        if pending:
            _, late = await asyncio.wait(pending, timeout=grace)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=1.0)
        log.info("runner stopped (%d jobs left to resume)", len(await self.store.jobs_to_resume()))

    async def run_until_idle(self, limit: float = 60.0) -> None:
        """Deterministic mode for tests and the demo: return once no job is unfinished,
        no task runs and no clean-up is owed (or raise TimeoutError)."""
        await self.start()
        deadline = time.monotonic() + limit
        while True:
            # Snapshots, not the live task dict: a task that ends during the awaits below
            # must not make a job it just requeued look finished.
            busy = bool(self._tasks) or bool(await self.store.jobs_to_resume())
            owed = bool(await self.store.jobs_needing_cleanup())
            if not busy and not owed:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"runner not idle: {len(self._tasks)} tasks")
            if owed and not self._tasks:
                await self.cleaner.cleanup_owed(busy=self._tasks)
            self.control.wake()
            await asyncio.sleep(0.01)

    # -- what listeners call ------------------------------------------------------------

    async def queue_full(self, user_id: str) -> bool:
        return await self.store.count_queued_for_user(user_id) >= self.config.max_queued_per_user

    def wake(self) -> None:
        """Look at the queue now (a job was queued, or its card is ready)."""
        self.control.wake()

    def release(self, job_id: int) -> None:
        """A job queued with ``wake=False`` may now be admitted (its card is settled)."""
        self.admission.release(job_id)
        self.control.wake()

    async def enqueue(self, new: NewJob, *, wake: bool = True, limits: Limits | None = None) -> Job:
        """Queue a job (raises QueueFull, LimitReached for the other ``limits``, or
        DuplicateJob for a used ``dedupe_key``). The queue cap (``limits.max_queued``, by
        default the configured one) is checked in the insert's transaction. A
        remix of a parent that cannot be remixed fails at once, with its reason, and never
        reaches Azure. ``wake=False`` holds the job (it is not admitted) until the caller
        releases it, e.g. once its card is posted: nothing is spent for a job nobody sees.
        The hold lives in memory: after a restart the job is admitted and its card posted
        by the delivery."""
        limits = limits or Limits(max_queued=self.config.max_queued_per_user)
        try:
            job = await self.store.create_job(new, limits=limits)
        except LimitReached as reached:
            if reached.which != "queue":
                raise
            raise QueueFull(new.requester_id, reached.limit) from reached
        if not wake:
            self.admission.hold_back(job.id)
        if job.kind == JobKind.REMIX:
            problem = await self.admission.remix_problem(job)
            if problem is not None:
                return await self.transitions.fail(job, problem)
        log.info("job %d queued for %s (%s, %ss)", job.id, job.requester_id, job.size, job.seconds)
        if wake:
            self.control.wake()
        return job

    async def enqueue_group(
        self, news: list[NewJob], *, wake: bool = True, limits: Limits | None = None
    ) -> list[Job]:
        """Queue the variants of one request together, all or none: the limits are checked
        for the whole group in the insert's transaction (raises QueueFull, LimitReached,
        DuplicateJob as ``enqueue``). ``wake=False`` holds every job until released."""
        limits = limits or Limits(max_queued=self.config.max_queued_per_user)
        try:
            jobs = await self.store.create_group(news, limits=limits)
        except LimitReached as reached:
            if reached.which != "queue":
                raise
            raise QueueFull(news[0].requester_id, reached.limit) from reached
        for job in jobs:
            if not wake:
                self.admission.hold_back(job.id)
            log.info(
                "job %d queued for %s (variant %s)", job.id, job.requester_id, job.version_label
            )
        if wake:
            self.control.wake()
        return jobs

    async def cancel(self, job_id: int, by: str) -> Job:
        """Cancel an unfinished job (idempotent). Its video, if Azure made one, is deleted
        there as soon as Azure allows."""
        job = await self._get(job_id)
        if job.state == S.UPLOADING:
            raise CannotCancel("the video is being delivered")
        if job.state not in UNFINISHED:
            return job
        at_azure = job.state != S.QUEUED
        try:
            job = await self.transitions.move(
                job,
                S.CANCELED,
                cancel_requested=True,
                deleted_by=by,
                cleanup_pending=at_azure and job.video_id is not None,
            )
        except StaleState as exc:
            return await self.cancel(exc.job.id, by) if exc.job.state in UNFINISHED else exc.job
        self.control.stop_job(job_id)
        self.control.wake()
        return job

    async def delete(self, job_id: int, by: str) -> DeleteResult:
        """Delete a job's video at Azure and where it was delivered (idempotent); an
        unfinished job is canceled instead."""
        job = await self._get(job_id)
        if job.state in UNFINISHED:
            return DeleteResult(await self.cancel(job_id, by), False)
        if job.state != S.DELETED:
            owed = job.video_id is not None or job.slack_file_id is not None
            job = await self.transitions.move(job, S.DELETED, deleted_by=by, cleanup_pending=owed)
        if job.cleanup_pending:
            await self.cleaner.cleanup(job)
            job = await self._get(job_id)
        return DeleteResult(job, job.error_code == outcomes.PROVIDER_KEEPS)

    # -- admission ----------------------------------------------------------------------

    async def _admission_loop(self) -> None:
        while not self.control.stopped.is_set():
            await self.admission.admit(drive=self._spawn)
            await self.control.rest(self.config.tick, self.pool.next_unpause())

    async def _backend_changed(self, name: str, up: bool) -> None:
        """A backend left the rotation: its jobs' tasks look at once (and move elsewhere);
        either way, admission looks again."""
        if not up:
            for job in await self.store.jobs_on_backend(name, *MOVABLE):
                self.control.poke(job.id)
        self.control.wake()

    def parent_problem(self, parent: Job | None) -> outcomes.Outcome | None:
        """Why this job's video cannot be remixed (failed, canceled, deleted, expired)."""
        return self.admission.parent_problem(parent)

    # -- driving one job ----------------------------------------------------------------

    def _spawn(self, job: Job) -> None:
        if self.control.stopped.is_set():
            return
        if job.id in self._tasks:
            if job.state == S.SUBMITTING:  # a new turn, admitted while the old task ends
                self._next_turn[job.id] = job
            return
        self.control.watch(job.id)
        task = asyncio.create_task(self._drive(job), name=f"job-{job.id}")
        self._tasks[job.id] = task
        task.add_done_callback(functools.partial(self._reap, job.id))

    def _reap(self, job_id: int, task: asyncio.Task[None]) -> None:
        self._tasks.pop(job_id, None)
        self.control.forget(job_id)
        self._steps.pop(job_id, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("job %d task died", job_id, exc_info=task.exception())
        if (turn := self._next_turn.pop(job_id, None)) is not None:
            self._spawn(turn)
        self.control.wake()

    async def _drive(self, job: Job | None) -> None:
        steps = {
            S.SUBMITTING: self.pipeline.submit,
            S.RUNNING: self.pipeline.poll,
            S.DOWNLOADING: self.pipeline.download,
            S.UPLOADING: self.pipeline.upload,
        }
        try:
            while job is not None and job.state in steps and not self.control.stopped.is_set():
                self._steps[job.id] = job.state
                job = await steps[job.state](job)
        except StaleState as exc:  # canceled or deleted by someone else meanwhile
            log.info("job %d left the pipeline: it is %s", exc.job.id, exc.job.state)
            await self.files.discard(exc.job)  # a download that ended after a cancel

    # -- helpers ------------------------------------------------------------------------

    def _loop(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._loops.add(task)

        def done(t: asyncio.Task[None]) -> None:
            self._loops.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.error("runner %s loop died", name, exc_info=t.exception())

        task.add_done_callback(done)

    async def _get(self, job_id: int) -> Job:
        job = await self.store.get_job(job_id)
        if job is None:
            raise KeyError(f"no job {job_id}")
        return job
