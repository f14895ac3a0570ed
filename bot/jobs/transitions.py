"""Every change the runner makes to a job: checked by the store, logged once, and told.

A move names the state the job was read in: the store refuses it (``StaleState``, nothing
written) when the job has moved since, e.g. canceled meanwhile. After a move the delivery
is told (a card edit in Slack), and the work files a finished job no longer needs are
removed. The runner (admission, cancel, delete), the pipeline (a job's way through Azure)
and the cleaner share one ``Transitions``; none of them calls into another for this.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.jobs.delivery import Delivery
from bot.jobs.outcomes import Outcome
from bot.jobs.workfiles import WorkFiles
from bot.store import TERMINAL, Job, JobState, Store

logger = logging.getLogger("bot.jobs")
S = JobState
AT_AZURE = (S.SUBMITTING, S.RUNNING)


@dataclass(kw_only=True, eq=False)
class Transitions:
    store: Store
    delivery: Delivery  # told every change (a card edit in Slack)
    files: WorkFiles
    clock: Callable[[], float]
    video_ttl: float  # how long the provider keeps a video after its submission
    wake: Callable[[], None]  # admission looks again: a job ended or left Azure's slots
    positions: dict[int, int] = field(default_factory=dict)  # queue positions last told

    async def move(self, job: Job, to: JobState, **fields: Any) -> Job:
        """Move ``job`` from the state it was read in to ``to`` (raises ``StaleState``)."""
        new = await self.store.transition(job.id, to, expect=job.state, **fields)
        if new.input_image_path and (to == S.RUNNING or to in TERMINAL):
            # The first frame is needed only until Azure has the job.
            await asyncio.to_thread(Path(new.input_image_path).unlink, True)
        if to in TERMINAL:  # delivered, failed (refused at delivery too), canceled, deleted
            await self.files.discard(new)
        self.log(job, new)
        await self.notify(new)
        return new

    async def fail(self, job: Job, outcome: Outcome, **fields: Any) -> Job:
        """Move to ``failed`` with the outcome's code and the text people are shown."""
        return await self.move(
            job, S.FAILED, error_code=outcome.code, error_message=outcome.message, **fields
        )

    async def update(self, job: Job, **fields: Any) -> Job:
        """A change within a state (progress): stored, then told."""
        new = await self.store.update_job(job.id, **fields)
        await self.notify(new)
        return new

    def log(self, before: Job, after: Job) -> None:
        logger.info(
            "job %d %s -> %s video=%s elapsed=%.1fs%s",
            before.id,
            before.state,
            after.state,
            after.video_id or "-",
            self.clock() - before.created_at,
            f" error={after.error_code}" if after.state == S.FAILED else "",
        )

    async def notify(self, job: Job) -> None:
        """Tell the delivery where the job stands (never raises)."""
        position = self.positions.get(job.id) if job.state == S.QUEUED else None
        await self._tell(job, position)
        if job.state not in (S.QUEUED, *AT_AZURE):
            self.wake()

    async def tell_positions(self) -> None:
        """Tell every queued job whose place in the queue changed."""
        positions = await self.store.queue_positions()
        changed = [jid for jid, pos in positions.items() if self.positions.get(jid) != pos]
        self.positions = positions
        for job_id in changed:
            job = await self.store.get_job(job_id)
            if job is not None:
                await self._tell(job, positions[job_id])

    def expired(self, job: Job, margin: float = 0.0) -> bool:
        """The provider no longer keeps (or within ``margin`` s will not keep) the video."""
        born = job.submitted_at or job.created_at
        return self.clock() > born + self.video_ttl - margin

    async def _tell(self, job: Job, position: int | None) -> None:
        try:
            await self.delivery.job_updated(job, position)
        except Exception:
            logger.exception("job %d: progress report failed", job.id)
