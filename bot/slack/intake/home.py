"""The Home tab's actions: what a person's Home shows, and its buttons.

A person sees their own videos (newest first, a page at a time) and their own usage; an
admin also sees the whole queue, per-person totals and, when a pool is configured, each
backend's health (``PoolHealth``: the pool plugs in here). Nothing here calls Sora.

Buttons on Home carry a job id and no conversation: the "pressed in its own conversation"
rule of card buttons becomes "the presser may manage this job" (its requester or an admin,
``Rules.may_manage``), and the job's channel must still be allowed.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, Protocol

from bot.jobs import JobRunner
from bot.slack import reports
from bot.slack.cards import Cards
from bot.slack.home_blocks import PAGE, AdminPanel, HomePage, HomeVideo, Usage
from bot.slack.intake.answer import Answer, Form
from bot.slack.intake.remix import Remixer
from bot.slack.intake.remove import remove
from bot.slack.intake.rules import Rules
from bot.slack.parse import small_int
from bot.store import UNFINISHED, Job, JobState, Store


class PoolHealth(Protocol):
    def __call__(self) -> Awaitable[list[str]]:
        """One line per backend ("east: up, 1 of 2 running"), for admins' Home tabs."""


class HomeDesk:
    def __init__(
        self,
        *,
        store: Store,
        rules: Rules,
        cards: Cards,
        runner: JobRunner,
        remixer: Remixer,
        pool_health: PoolHealth | None = None,
    ) -> None:
        self.store = store
        self.rules = rules
        self.cards = cards
        self.runner = runner
        self.remixer = remixer
        self.pool_health = pool_health

    async def page(self, user: str, *, offset: int = 0, workspace_url: str | None) -> HomePage:
        total = await self.store.count_jobs_for_user(user)
        offset = max(0, min(offset, max(0, total - 1)))
        jobs = await self.store.jobs_for_user_page(user, offset=offset, limit=PAGE)
        thumbs = await self.store.thumbnails(job.id for job in jobs)
        positions = await self.store.queue_positions()
        videos = [
            HomeVideo(
                job=job,
                parent_label=await self.cards.parent_label(job),
                position=positions.get(job.id) if job.state == JobState.QUEUED else None,
                thumb_file_id=thumbs.get(job.id),
            )
            for job in jobs
        ]
        now = self.rules.clock()
        limits = self.rules.limits()
        usage = Usage(
            month_seconds=await self.store.seconds_used(user, reports.month_start(now)),
            price_per_second=self.rules.settings.price_per_second,
            daily_limit=limits.daily_seconds,
            day_used=await self.store.seconds_used(user, limits.since),
        )
        unfinished = await self.store.jobs_in_states(*UNFINISHED)
        waiting = sorted(
            positions[j.id] for j in unfinished if j.requester_id == user and j.id in positions
        )
        admin = None
        if self.rules.is_admin(user):
            admin = await self._admin(unfinished, positions, now)
        return HomePage(
            user=user,
            videos=videos,
            total=total,
            offset=offset,
            usage=usage,
            notify=await self.store.wants_notices(user),
            workspace_url=workspace_url,
            admin=admin,
            waiting=waiting,
        )

    async def _admin(
        self, unfinished: list[Job], positions: dict[int, int], now: float
    ) -> AdminPanel:
        running = [job for job in unfinished if job.state != JobState.QUEUED]
        queued = sorted(
            (job for job in unfinished if job.state == JobState.QUEUED),
            key=lambda job: positions.get(job.id, 10**9),
        )
        health = await self.pool_health() if self.pool_health is not None else None
        return AdminPanel(
            running=running,
            queued=queued,
            positions=positions,
            totals=await self.store.usage_by_user(reports.month_start(now)),
            health=health,
        )

    # -- buttons --------------------------------------------------------------------------

    async def _managed(self, user: str, job_value: Any) -> Job | Answer | None:
        """The job a Home button names, if ``user`` may manage it; None for an unknown or
        forged id (ignored, as on cards)."""
        job_id = small_int(job_value)
        job = await self.store.get_job(job_id) if job_id is not None else None
        if job is None or not user or not self.rules.may_manage(user, job):
            return None
        refused = self.rules.not_here(job.channel_id)
        return refused if refused is not None else job

    async def remix(self, user: str, job_value: Any) -> Form | Answer | None:
        found = await self._managed(user, job_value)
        return found if not isinstance(found, Job) else self.remixer.form(found)

    async def remove(self, user: str, job_value: Any) -> Answer | None:
        found = await self._managed(user, job_value)
        return (
            found
            if not isinstance(found, Job)
            else await remove(self.runner, self.rules, found, user)
        )

    async def set_notices(self, user: str, value: Any) -> None:
        if user and value in ("on", "off"):
            await self.store.set_notices(user, value == "on")
