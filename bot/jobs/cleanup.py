"""What is owed after a job ended: its video deleted at the provider, and (for a deleted
job) its file and message removed where it was delivered. Kept in the store
(``cleanup_pending``) so it survives restarts; done once per job at a time."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Container
from typing import Any

from bot.jobs import outcomes
from bot.jobs.delivery import Delivery
from bot.jobs.pool import Pool
from bot.jobs.transitions import Transitions
from bot.sora import (
    InvalidRequestError,
    NotFoundError,
    NotSupportedError,
    SoraError,
)
from bot.store import Job, JobState, Store

log = logging.getLogger("bot.jobs")


class Cleaner:
    def __init__(
        self, *, store: Store, pool: Pool, delivery: Delivery, transitions: Transitions
    ) -> None:
        self.store = store
        self.pool = pool  # a video is deleted at the backend that made it
        self.delivery = delivery
        self.transitions = transitions
        # One clean-up per job at a time (a Delete press and the clean-up loop may race).
        self._locks: dict[int, asyncio.Lock] = {}

    async def run(self, *, stopped: asyncio.Event, interval: float, busy: Container[int]) -> None:
        """Every ``interval`` s until ``stopped``: what is owed, for jobs no task drives."""
        while not stopped.is_set():
            await self.cleanup_owed(busy=busy)
            with contextlib.suppress(TimeoutError):  # a stop ends the wait at once
                await asyncio.wait_for(stopped.wait(), interval)

    async def cleanup_owed(self, *, busy: Container[int]) -> None:
        """Clean up every job that owes it, but those in ``busy`` (a task still has them)."""
        for job in await self.store.jobs_needing_cleanup():
            if job.id not in busy:
                await self.cleanup(job)

    async def cleanup(self, job: Job) -> bool:
        """Delete at the provider and retract from Slack; True when nothing is owed any more.
        Serialized per job, and idempotent: a second caller finds nothing left to do."""
        lock = self._locks.setdefault(job.id, asyncio.Lock())
        try:
            async with lock:
                current = await self.store.get_job(job.id)
                if current is None or not current.cleanup_pending:
                    return True
                return await self._cleanup(current)
        finally:
            if not lock.locked():
                self._locks.pop(job.id, None)

    async def _cleanup(self, job: Job) -> bool:
        note = None
        backend = self.pool.get(job.backend)
        if job.video_id and not self.transitions.expired(job) and backend is not None:
            if not self.pool.in_rotation(job.backend) and self.pool.others_in_rotation(job.backend):
                return False  # out of rotation: later, once it is back
            try:
                await backend.sora.delete(job.video_id)
            except NotFoundError:
                pass  # already gone or expired
            except NotSupportedError:
                note = outcomes.PROVIDER_KEEPS  # e.g. a proxy without DELETE: it expires in 24 h
            except InvalidRequestError:
                return False  # not finished yet at Azure: it cannot be deleted until it is
            except SoraError as exc:
                log.warning("job %d: delete at the provider failed (%s); later", job.id, exc)
                return False
        if job.state == JobState.DELETED and job.slack_file_id:
            try:
                await self.delivery.retract(job)
            except Exception as exc:
                log.warning("job %d: retracting the video failed (%s); later", job.id, exc)
                return False
        fields: dict[str, Any] = {"cleanup_pending": False}
        if note:
            fields["error_code"] = note
        await self.store.update_job(job.id, **fields)
        return True
