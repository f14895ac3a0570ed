"""Job cards in Slack: posted once, then edited through the global throttle."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import slack_ui
from bot.store import TERMINAL, Job, JobState, Store
from bot.throttle import Throttle

log = logging.getLogger(__name__)


class Cards:
    def __init__(self, client: AsyncWebClient, store: Store, *, per_minute: float = 40.0) -> None:
        self.client = client
        self.store = store
        self.throttle: Throttle[int, int | None] = Throttle(self._edit, per_minute=per_minute)
        self._locks: dict[int, asyncio.Lock] = {}

    async def parent_label(self, job: Job) -> str | None:
        """The version a remix came from ("v1"), for cards and upload comments."""
        if job.parent_job_id is None:
            return None
        parent = await self.store.get_job(job.parent_job_id)
        return parent.version_label if parent else None

    async def render(self, job: Job, position: int | None) -> slack_ui.Message:
        shown = position if job.state == JobState.QUEUED else None
        return slack_ui.job_card(job, shown, await self.parent_label(job))

    async def ensure(self, job: Job, position: int | None = None) -> Job:
        """Post the job's card if it has none yet (once, whoever asks first)."""
        if job.card_ts:
            return job
        lock = self._locks.setdefault(job.id, asyncio.Lock())
        try:
            async with lock:
                fresh = await self.store.get_job(job.id) or job
                if fresh.card_ts:
                    return fresh
                message = await self.render(fresh, position)
                kwargs: dict[str, Any] = {}
                if fresh.thread_ts:
                    kwargs["thread_ts"] = fresh.thread_ts
                resp = await self.client.chat_postMessage(
                    channel=fresh.channel_id,
                    text=message.text,
                    blocks=message.blocks,
                    unfurl_links=False,
                    unfurl_media=False,
                    **kwargs,
                )
                posted = await self.store.set_card(
                    fresh.id, card_ts=str(resp["ts"]), thread_ts=fresh.thread_ts
                )
                posted = await self.store.update_job(posted.id, card_shown=str(fresh.state))
        finally:
            self._locks.pop(job.id, None)
        self.show(posted, position)  # the version label is known only now
        return posted

    def show(self, job: Job, position: int | None) -> None:
        """Queue an edit of the card; the latest state wins, final states go first."""
        if job.card_ts:
            self.throttle.submit(job.id, position, urgent=job.state in TERMINAL)

    async def _edit(self, job_id: int, position: int | None) -> None:
        job = await self.store.get_job(job_id)
        if job is None or not job.card_ts:
            return
        message = await self.render(job, position)
        try:
            await self.client.chat_update(
                channel=job.channel_id, ts=job.card_ts, text=message.text, blocks=message.blocks
            )
        except SlackApiError as exc:
            log.warning("job %d: card edit refused: %s", job_id, exc.response.get("error"))
            return
        if job.card_shown != job.state:
            await self.store.update_job(job_id, card_shown=str(job.state))

    async def resync(self) -> int:
        """After a start: queue the edits still owed (a card showing an older state)."""
        stale = await self.store.jobs_with_stale_cards()
        for job in stale:
            self.show(job, None)
        if stale:
            log.info("%d cards to bring up to date", len(stale))
        return len(stale)
