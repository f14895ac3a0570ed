"""Job cards in Slack: posted once (paced per channel), then edited through the throttle.

A card's first post says all that is known: its place in line and its version label. What
each card last showed (its state, and a digest of its text and blocks) is kept in the
store, so an edit that would change nothing is never sent, after a restart too. Edits are
ranked by what the person would miss (see ``Rank``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from enum import IntEnum
from typing import Any, Protocol

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack import blocks as ui
from bot.slack import variant_blocks
from bot.slack.posting import ChannelPoster
from bot.slack.throttle import Throttle
from bot.store import TERMINAL, Job, JobState, Store

log = logging.getLogger(__name__)
S = JobState
POSITIONS_FRESH = 0.5  # seconds a computed set of queue places is reused for first posts


class Rank(IntEnum):
    """Which card edits go first: lower first (see bot.throttle)."""

    FINAL = 0  # done, failed, canceled, deleted
    STATE = 1  # queued -> starting -> running -> finishing
    PROGRESS = 2  # a new percentage, or another detail of the same state
    POSITION = 3  # a new place in line


def rank_of(job: Job, shown_state: str | None) -> Rank:
    if job.state in TERMINAL:
        return Rank.FINAL
    if shown_state != job.state:
        return Rank.STATE
    return Rank.POSITION if job.state == S.QUEUED else Rank.PROGRESS


def digest(message: ui.Message) -> str:
    body = json.dumps([message.text, message.blocks], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()[:32]


class CardCounters(Protocol):
    def card_edit(self, sent: bool) -> None:
        """An edit was sent (True), or skipped because it would change nothing."""


class Cards:
    def __init__(
        self,
        client: AsyncWebClient,
        store: Store,
        *,
        per_minute: float = 40.0,
        posts_per_second: float = 1.0,
        post_burst: int = 3,
        counters: CardCounters | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.store = store
        self.counters = counters
        self.clock = clock
        self.throttle: Throttle[int, int | None] = Throttle(self._edit, per_minute=per_minute)
        self.poster = ChannelPoster(self._post, per_second=posts_per_second, burst=post_burst)
        self.positions: Callable[[], Awaitable[dict[int, int]]] = store.queue_positions
        self._places: tuple[float, dict[int, int]] = (float("-inf"), {})
        # What each card shows now (state, digest), for cards edited in this process; the
        # store has the same for the others.
        self._shown: dict[int, tuple[str | None, str | None]] = {}
        self._editing: asyncio.Task[None] | None = None

    async def parent_label(self, job: Job) -> str | None:
        """The version a remix came from ("v1"), for cards and upload comments."""
        if job.parent_job_id is None:
            return None
        parent = await self.store.get_job(job.parent_job_id)
        return parent.version_label if parent else None

    async def place(self, job: Job) -> int | None:
        """A queued job's place in line now (computed at most every POSITIONS_FRESH s)."""
        if job.state != S.QUEUED:
            return None
        at, places = self._places
        if job.id not in places or self.clock() - at > POSITIONS_FRESH:
            places = await self.positions()
            self._places = (self.clock(), places)
        return places.get(job.id)

    async def render(self, job: Job, position: int | None, *, quiet: bool = False) -> ui.Message:
        if job.variant_group:  # one card for the group: every variant as it is now
            group = await self.store.jobs_in_group(job.variant_group)
            places = {j.id: await self.place(j) for j in group if j.state == S.QUEUED}
            return variant_blocks.group_card(group or [job], places, quiet=quiet)
        if job.state == S.QUEUED and position is None:
            position = await self.place(job)
        shown = position if job.state == S.QUEUED else None
        return ui.job_card(job, shown, await self.parent_label(job), quiet=quiet)

    # -- posting --------------------------------------------------------------------------

    async def ensure(self, job: Job) -> Job:
        """The job with its card posted (once, whoever asks first; in the channel's turn).
        Raises SlackApiError when Slack refuses for another reason than its rate, and
        bot.posting.PostingStopped when the bot stops first."""
        if job.card_ts:
            return job
        posted = await self.poster.request(job)
        return posted or job

    def ensure_soon(self, job: Job) -> None:
        """Ask for the job's card without waiting (the runner must not wait for a channel's
        turn); it renders the job as it is when its turn comes."""
        if not job.card_ts:
            self.poster.request_soon(job)

    async def _post(self, job_id: int) -> Job | None:
        fresh = await self.store.get_job(job_id)
        if fresh is None or fresh.card_ts:
            return fresh
        if fresh.variant_group:  # a later variant shares the group's card (and thread)
            shared = await self._group_card(fresh)
            if shared is not None:
                return shared
        label = fresh.version_label or await self.store.next_version_label(
            fresh.channel_id, fresh.thread_ts
        )
        labelled = dataclasses.replace(fresh, version_label=label)
        # Posted quiet (naming nobody, so nobody is notified now); the digest kept is the
        # full card's, so no edit is spent on the name alone: the next edit adds it.
        message = await self.render(labelled, None, quiet=True)
        full = await self.render(labelled, None)
        kwargs: dict[str, Any] = {"thread_ts": fresh.thread_ts} if fresh.thread_ts else {}
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
        posted = await self.store.update_job(
            posted.id, card_shown=str(fresh.state), card_digest=digest(full)
        )
        self._shown[posted.id] = (posted.card_shown, posted.card_digest)
        await self.show(posted, None)  # what changed while it was posted (usually nothing)
        return posted

    async def _group_card(self, job: Job) -> Job | None:
        group = await self.store.jobs_in_group(job.variant_group or "")
        owner = next((j for j in group if j.card_ts and j.id != job.id), None)
        if owner is None or owner.card_ts is None:
            return None
        shared = await self.store.set_card(job.id, card_ts=owner.card_ts, thread_ts=owner.thread_ts)
        await self.show(shared, None)
        return shared

    # -- editing --------------------------------------------------------------------------

    async def show(self, job: Job, position: int | None) -> None:
        """Queue an edit of the card if it would change what the card shows; the latest
        content wins, ranked by what the person would miss."""
        if not job.card_ts:
            return
        shown_state, shown_digest = self._shown.get(job.id, (job.card_shown, job.card_digest))
        if digest(await self.render(job, position)) == shown_digest:
            self._count(sent=False)
            return
        self.throttle.submit(job.id, position, rank_of(job, shown_state))

    async def _edit(self, job_id: int, position: int | None) -> bool:
        """Edit the card, unless it already shows this; True if Slack was called."""
        job = await self.store.get_job(job_id)
        if job is None or not job.card_ts:
            return False
        message = await self.render(job, position)
        new = digest(message)
        if new == job.card_digest:
            self._count(sent=False)
            return False
        try:
            await self.client.chat_update(
                channel=job.channel_id, ts=job.card_ts, text=message.text, blocks=message.blocks
            )
        except SlackApiError as exc:
            log.warning("job %d: card edit refused: %s", job_id, exc.response.get("error"))
            if exc.response.status_code == 429:  # not made: it waits for its turn again
                self.throttle.submit(job_id, position, rank_of(job, job.card_shown))
            return True
        self._count(sent=True)
        await self.store.update_job(job_id, card_shown=str(job.state), card_digest=new)
        if job.state in TERMINAL:
            self._shown.pop(job_id, None)  # the store has it; a later delete reads it there
        else:
            self._shown[job_id] = (str(job.state), new)
        return True

    def _count(self, *, sent: bool) -> None:
        if self.counters is not None:
            self.counters.card_edit(sent)

    async def resync(self) -> int:
        """After a start: queue the edits still owed (a card showing an older state)."""
        stale = await self.store.jobs_with_stale_cards()
        for job in stale:
            await self.show(job, None)
        if stale:
            log.info("%d cards to bring up to date", len(stale))
        return len(stale)

    async def close(self) -> None:
        await self.poster.close()

    # -- running --------------------------------------------------------------------------

    async def start(self) -> None:
        """Queue the edits owed since the last run, and start sending edits."""
        await self.resync()
        if self._editing is None:
            self._editing = asyncio.create_task(self.throttle.run(), name="card-throttle")

    async def stop(self, *, flush_limit: float = 1.5) -> None:
        """Stop posting, send what edits fit in ``flush_limit`` seconds, stop editing.
        Cards not posted yet are posted after the next start (their jobs are stored)."""
        await self.close()
        await self.throttle.flush(limit=flush_limit)
        editing, self._editing = self._editing, None
        if editing is not None:
            editing.cancel()
            await asyncio.gather(editing, return_exceptions=True)

    @property
    def pending_edits(self) -> int:
        return self.throttle.pending
