"""One job's way through Azure: submit (or reconcile), poll, download, deliver.

Every step writes the job's next state before the side effect that depends on it, and each
step can be entered from a row after a restart. A step returns the job in its next state,
or None when the job left this task's hands (requeued, canceled, or the runner stopping).
State changes go through ``Transitions``; waits and admission holds through ``Control``.
A failed download or delivery is retried here, and only here (the client tries once).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from bot.jobs import outcomes
from bot.jobs.config import RunnerConfig
from bot.jobs.control import Control
from bot.jobs.delivery import Artifacts, Delivery, DeliveryRefused
from bot.jobs.polling import CompletionTimes, PollTracker
from bot.jobs.pool import DEFAULT_BACKEND, Pool
from bot.jobs.reconcile import CannotList, Reconciler
from bot.jobs.transitions import Transitions
from bot.jobs.workfiles import WorkFiles
from bot.private_files import make_private, private_dir
from bot.sora import (
    APIError,
    AuthenticationError,
    DeploymentNotFoundError,
    InvalidResponseError,
    NotFoundError,
    RateLimitError,
    ReferenceImage,
    ServerError,
    SoraClient,
    SoraError,
    TransportError,
    Video,
    VideoStatus,
)
from bot.sora.retry import backoff
from bot.store import Job, JobKind, JobState, StaleState, Store

log = logging.getLogger("bot.jobs")
S = JobState


class Pipeline:
    def __init__(
        self,
        *,
        pool: Pool,
        transitions: Transitions,
        control: Control,
        store: Store,
        files: WorkFiles,
        delivery: Delivery,
        config: RunnerConfig,
        clock: Callable[[], float],
        completions: CompletionTimes,
    ) -> None:
        self.pool = pool  # the backends; each job's calls go to the one its row names
        self.transitions = transitions  # every state change
        self.control = control  # naps a cancel or a stop ends (a poke ends one early)
        self.store = store
        self.files = files
        self.delivery = delivery  # only to publish a finished video
        self.config = config
        self.clock = clock
        self.completions = completions  # what recent jobs took: when to poll densely
        self.reconciler = Reconciler(store, self.sora, config.reconcile_skew)
        # Jobs whose create may have reached Azure, with the time it may have: reconciled
        # before any new create, once reconcile_delay has passed (a create still being
        # processed is not listed yet).
        self._unsure: dict[int, float] = {}

    @staticmethod
    def poll_kind(job: Job) -> tuple[str, str, int]:
        """Jobs that take about as long: the same backend (a region), deployment, size and
        length (``Store.completion_times`` answers with the same keys)."""
        return (f"{job.backend or DEFAULT_BACKEND}/{job.model}", job.size, job.seconds)

    def sora(self, job: Job) -> SoraClient:
        """The client of the backend that has (or is making) this job's video."""
        backend = self.pool.get(job.backend)
        if backend is None:
            raise NotFoundError(f"backend {job.backend!r} is no longer configured", status=404)
        return backend.sora

    def must_leave(self, job: Job) -> bool:
        """The job's backend is out of rotation (or gone from the configuration) and the
        job can go elsewhere: another backend is in rotation, or it moved once already
        (then it fails, see ``leave``)."""
        if self.pool.in_rotation(job.backend):
            return False
        if self.pool.get(job.backend) is None:
            return True
        return job.moved_from is not None or self.pool.others_in_rotation(job.backend)

    async def leave(self, job: Job) -> Job | None:
        """Start the job again on another backend, once; a second loss fails it."""
        self._unsure.pop(job.id, None)
        name = job.backend or DEFAULT_BACKEND
        health = self.pool.health.get(name)
        why = (health.reason if health else "") or "it is no longer configured"
        if job.moved_from is not None:
            lost = outcomes.backend_lost(job.moved_from, name, why)
            return await self.transitions.fail(job, lost)
        log.warning("job %d: backend %s is out of rotation (%s); starting it again elsewhere",
                    job.id, name, why)  # fmt: skip
        await self.files.discard(job)  # a partial download from the old backend
        await self.transitions.move(
            job,
            S.QUEUED,
            backend=None,
            moved_from=name,
            video_id=None,
            progress=0,
            submitted_at=None,
            completed_at=None,
            attempts=0,
        )
        return None  # admission takes it to another backend

    def resume(self, job: Job) -> None:
        """A job found unfinished at start-up: one left in ``submitting`` may have reached
        Azure since its admission, so it is reconciled before it is created again."""
        if job.state == S.SUBMITTING:
            self._unsure[job.id] = job.submitted_at or job.created_at

    # -- submitting ---------------------------------------------------------------------

    async def submit(self, job: Job) -> Job | None:
        """Create the job at Azure; reconcile first if an earlier create may have landed."""
        if self.must_leave(job):
            return await self.leave(job)
        if job.video_id:
            return await self.transitions.move(job, S.RUNNING)
        if job.id in self._unsure:
            wait = self._unsure[job.id] + self.config.reconcile_delay - self.clock()
            if wait > 0 and await self.control.nap(job.id, wait):
                return None
            try:
                found = await self.reconciler.find(job)
            except CannotList as exc:
                log.warning(
                    "job %d: the endpoint cannot list videos (%s); not creating it again blindly",
                    job.id,
                    exc,
                )
                self._unsure.pop(job.id, None)
                return await self.transitions.fail(job, outcomes.unconfirmed())
            except SoraError as exc:
                log.warning("job %d: listing videos failed (%s); trying again", job.id, exc)
                return None if await self.control.nap(job.id, self.config.busy_hold) else job
            self._unsure.pop(job.id, None)
            if found is not None:
                log.info("job %d: found video %s at Azure; not creating again", job.id, found.id)
                return await self._running(job, found)
            if job.attempts >= self.config.max_create_attempts:
                return await self.transitions.fail(job, outcomes.gave_up(job.attempts))
            # Surely not created: back to the queue, admitted again in its turn.
            return await self._requeue(job, 0.0, "the create did not reach Azure", attempted=True)
        try:
            video = await self._create(job)
        except FileNotFoundError:
            return await self.transitions.fail(job, outcomes.input_missing())
        except RateLimitError as exc:  # 'Too many running tasks' included: nothing was made
            return await self._requeue(job, exc.retry_after or self.config.busy_hold, str(exc))
        except AuthenticationError as exc:
            log.error("backend %s refused the bot's credentials: %s", job.backend, exc)
            return await self._requeue(job, self.config.auth_hold, "authentication")
        except DeploymentNotFoundError as exc:
            if self.pool.others_in_rotation(job.backend):  # nothing was made: go elsewhere
                return await self._requeue(job, self.config.auth_hold, str(exc))
            log.error("deployment %r not found (%s): %s", self.sora(job).deployment, exc.hint, exc)
            return await self.transitions.fail(job, outcomes.from_error(exc))
        except TransportError as exc:
            if not exc.sent:
                return await self._requeue(job, self.config.busy_hold, str(exc))
            return await self._ambiguous(job, exc)
        except (ServerError, InvalidResponseError) as exc:
            return await self._ambiguous(job, exc)
        except SoraError as exc:
            return await self.transitions.fail(job, outcomes.from_error(exc))
        return await self._running(job, video)

    async def _ambiguous(self, job: Job, exc: Exception) -> Job:
        """The create may have reached Azure: reconcile before anything is created again."""
        log.warning("job %d: create may have reached Azure (%s); reconciling", job.id, exc)
        self._unsure[job.id] = self.clock()
        return job  # the driver calls submit() again, which reconciles first

    async def _create(self, job: Job) -> Video:
        if job.kind == JobKind.REMIX:
            parent_video = job.parent_video_id
            if parent_video is None and job.parent_job_id is not None:
                parent = await self.store.get_job(job.parent_job_id)
                parent_video = parent.video_id if parent else None
            if not parent_video:
                raise NotFoundError("the video to remix is unknown", status=404)
            return await self.sora(job).remix(parent_video, job.prompt)
        reference = None
        if job.input_image_path:
            path = Path(job.input_image_path)
            data = await asyncio.to_thread(path.read_bytes)
            reference = ReferenceImage.from_bytes(data, path.name)
        return await self.sora(job).create(
            job.prompt, size=job.size, seconds=job.seconds, input_reference=reference
        )

    async def _running(self, job: Job, video: Video) -> Job | None:
        try:
            return await self.transitions.move(
                job, S.RUNNING, video_id=video.id, progress=video.progress
            )
        except StaleState as exc:  # canceled while the create was in flight: clean it up later
            await self.store.update_job(job.id, video_id=video.id, cleanup_pending=True)
            log.info("job %d was %s during submission; video %s", job.id, exc.job.state, video.id)
            return None

    async def _requeue(
        self, job: Job, delay: float, why: str, *, attempted: bool = False
    ) -> Job | None:
        """Back to the queue; admission pauses ``delay`` seconds. A refusal that surely
        created nothing (a 429, a connection never opened) does not count as an attempt:
        a job waiting behind a busy deployment must never give up."""
        self.pool.pause(job.backend, delay)
        log.info("job %d back to the queue, %s paused %.0fs: %s", job.id, job.backend, delay, why)
        attempts = job.attempts if attempted else max(0, job.attempts - 1)
        await self.transitions.move(job, S.QUEUED, attempts=attempts, backend=None)
        return None  # admission takes it from here

    # -- running ------------------------------------------------------------------------

    async def poll(self, job: Job) -> Job | None:
        assert job.video_id is not None
        started = job.submitted_at or job.created_at
        kind = self.poll_kind(job)
        tracker = PollTracker(
            self.config.poll,
            job.seconds,
            started,
            forecast=self.completions.forecast(kind),
            deadline=started + self.config.job_timeout,
        )
        if job.progress:  # resumed: what the last run saw is a first sample
            tracker.samples.append((self.clock(), job.progress))
        hint: float | None = None
        while True:
            now = self.clock()
            if now - started > self.config.job_timeout:
                return await self.transitions.fail(
                    job, outcomes.timeout(self.config.job_timeout), cleanup_pending=True
                )
            if await self.control.nap(job.id, tracker.next_delay(now, hint)):
                return None
            if self.must_leave(job):
                return await self.leave(job)
            try:
                result = await self.sora(job).poll(job.video_id)
            except NotFoundError:
                if self.must_leave(job):
                    return await self.leave(job)
                return await self.transitions.fail(job, outcomes.expired())
            except SoraError as exc:
                log.warning("job %d: status check failed: %s", job.id, exc)
                hint = self.config.poll.max_interval
                continue
            video, hint = result.video, result.poll_after
            tracker.observe(self.clock(), video.progress)
            if video.status == VideoStatus.COMPLETED:
                self.completions.record(kind, tracker.took())
                return await self.transitions.move(
                    job, S.DOWNLOADING, progress=100, completed_at=self.clock()
                )
            if video.status in (VideoStatus.FAILED, VideoStatus.CANCELLED):
                return await self.transitions.fail(job, outcomes.from_video(video))
            if video.progress != job.progress:
                job = await self.transitions.update(job, progress=video.progress)

    # -- downloading and delivering -----------------------------------------------------

    async def download(self, job: Job) -> Job | None:
        assert job.video_id is not None
        files = self.files.paths(job)
        await asyncio.to_thread(private_dir, self.config.work_dir)  # 0700 before any byte
        attempt, same, last = 0, 0, ""
        while True:
            if self.transitions.expired(job):
                return await self.transitions.fail(job, outcomes.expired())
            if self.must_leave(job):
                return await self.leave(job)
            try:
                await self.sora(job).download(job.video_id, files.video)
                break
            except NotFoundError:
                if self.must_leave(job):
                    return await self.leave(job)
                return await self.transitions.fail(job, outcomes.expired())
            except SoraError as exc:
                attempt += 1
                log.warning("job %d: download failed (%s), attempt %d", job.id, exc, attempt)
                way = outcomes.failure_kind(exc)
                same = same + 1 if way is not None and way == last else int(way is not None)
                last = way or ""
                if same >= self.config.max_download_failures:
                    return await self.transitions.fail(
                        job, outcomes.download_failed(same, str(exc))
                    )
                if await self.control.nap(job.id, self._wait(exc, attempt)):
                    return None
        try:
            assert files.thumbnail is not None
            await self.sora(job).download(job.video_id, files.thumbnail, variant="thumbnail")
        except SoraError as exc:  # a thumbnail is a nicety, never a reason to fail
            log.info("job %d: no thumbnail (%s)", job.id, exc)
        await asyncio.to_thread(make_private, [files.video, files.thumbnail or files.video])
        return await self.transitions.move(job, S.UPLOADING)

    async def upload(self, job: Job) -> Job | None:
        if job.slack_file_id and await self.delivery.delivered_already(job):
            log.info("job %d: already delivered as %s before a restart", job.id, job.slack_file_id)
            return await self._delivered(job)
        files = self.files.paths(job)
        attempt = 0
        while True:
            try:
                if not await asyncio.to_thread(files.video.exists):
                    assert job.video_id is not None
                    await self.sora(job).download(job.video_id, files.video)
                thumb = files.thumbnail
                if thumb is not None and not await asyncio.to_thread(thumb.exists):
                    thumb = None
                await self.delivery.deliver(
                    job, Artifacts(files.video, thumb), self._rememberer(job)
                )
                break
            except NotFoundError:
                return await self.transitions.fail(job, outcomes.expired())
            except DeliveryRefused as exc:
                return await self.transitions.fail(job, outcomes.delivery_refused(str(exc)))
            except Exception as exc:  # a delivery failure never loses the job: try again
                attempt += 1
                log.warning("job %d: delivery failed (%s), attempt %d", job.id, exc, attempt)
                if await self.control.nap(job.id, self._wait(exc, attempt)):
                    return None
                job = await self.store.get_job(job.id) or job
        return await self._delivered(job)

    def _rememberer(self, job: Job) -> Callable[[str], Awaitable[Job]]:
        async def remember(ref: str) -> Job:
            # A new publication: no completion has been sent for it yet.
            return await self.store.update_job(job.id, slack_file_id=ref, completion_sent_at=None)

        return remember

    async def _delivered(self, job: Job) -> Job:
        current = await self.store.get_job(job.id) or job
        done = await self.transitions.move(current, S.DELIVERED)
        await self.files.discard(job)
        return done

    def _wait(self, exc: Exception, attempt: int) -> float:
        """Before trying a download or a delivery again: the server's Retry-After when it
        gave one, else the backoff."""
        if isinstance(exc, APIError) and exc.retry_after is not None:
            return exc.retry_after
        return backoff(attempt, first=self.config.retry_floor, ceiling=self.config.retry_ceiling)
