"""Starting a job from any Slack surface: the checks, the row, the card.

Every surface (``/sora``, the modal, remix replies, shortcuts, the Remix button) comes
through here, so the channel allow-list, the per-user queue cap and the daily seconds quota
apply alike, a retried Slack delivery never makes a second job (``dedupe_key``), and nothing
reaches Sora for a request that is refused. The cap and the quota are checked in the same
store transaction that writes the job, so requests that arrive together cannot all pass.
Each job records whether its channel is public, so listings know whom to show its prompt.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from slack_sdk.errors import SlackApiError

from bot.config import Settings
from bot.jobs import JobRunner, QueueFull
from bot.slack import blocks as ui
from bot.slack.cards import Cards
from bot.slack.channels import ChannelKinds
from bot.slack.errors import NOT_A_MEMBER, PERMANENT, error_code
from bot.slack.posting import PostingStopped
from bot.sora.models import PROMPT_MAX
from bot.store import DuplicateJob, Job, JobKind, LimitReached, Limits, NewJob, Store

log = logging.getLogger(__name__)
DAY = 86400


@dataclass(frozen=True)
class Refused:
    message: ui.Message


@dataclass(frozen=True)
class Ask:
    """One request for a video, whatever surface it came from."""

    team_id: str
    channel_id: str
    user_id: str
    prompt: str
    size: str
    seconds: int
    thread_ts: str | None = None
    kind: JobKind = JobKind.TEXT
    parent: Job | None = None
    image_path: str | None = None
    dedupe_key: str | None = None
    command_text: str | None = None  # to echo back if the bot cannot post


class Intake:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        runner: JobRunner,
        cards: Cards,
        *,
        channels: ChannelKinds,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.store = store
        self.runner = runner
        self.cards = cards
        self.channels = channels
        self.clock = clock

    def allowed(self, channel_id: str) -> bool:
        allowed = self.settings.allowed_channel_ids
        return not allowed or channel_id in allowed

    def not_here(self, channel_id: str) -> Refused | None:
        """The answer for a channel outside SORA_ALLOWED_CHANNEL_IDS, or None."""
        if self.allowed(channel_id):
            return None
        return Refused(ui.notice(
            ":no_entry_sign: Sora isn't enabled in this channel. Ask a workspace admin, "
            "or use a channel where it is."
        ))  # fmt: skip

    def is_admin(self, user_id: str) -> bool:
        return user_id in self.settings.admin_user_ids

    def limits(self) -> Limits:
        return Limits(
            max_queued=self.settings.max_queued_per_user,
            daily_seconds=self.settings.user_daily_seconds,
            since=self.clock() - DAY,
        )

    @staticmethod
    def over_limit(which: str, limit: int, used: int) -> Refused:
        if which == "queue":
            return Refused(ui.notice(
                f":hourglass: You already have {limit} videos waiting, the most one person "
                "may queue. Try again when one has started, or cancel one from its card."
            ))  # fmt: skip
        return Refused(ui.notice(
            f":stopwatch: That would pass your limit of {limit} seconds of video a day: you "
            f"have {max(0, limit - used)} seconds left (failed and blocked videos don't "
            "count). A shorter clip may fit: `--seconds 4`."
        ))  # fmt: skip

    async def check(self, user_id: str, channel_id: str, seconds: int) -> Refused | None:
        """Why this person may not start a video here now, or None. A cheap look before
        slow work (fetching an image); start() checks again, atomically, with the insert."""
        refused = self.not_here(channel_id)
        if refused is not None:
            return refused
        limits = self.limits()
        if await self.runner.queue_full(user_id):
            return self.over_limit("queue", limits.max_queued, limits.max_queued)
        if limits.daily_seconds:
            used = await self.store.seconds_used(user_id, limits.since)
            if used + seconds > limits.daily_seconds:
                return self.over_limit("daily", limits.daily_seconds, used)
        return None

    async def start(self, ask: Ask) -> Job | Refused:
        if len(ask.prompt) > PROMPT_MAX:
            return Refused(ui.notice(
                f":warning: The prompt is {len(ask.prompt):,} characters; the limit is "
                f"{PROMPT_MAX:,}."
            ))  # fmt: skip
        refused = self.not_here(ask.channel_id)
        if refused is not None:
            return refused
        new = NewJob(
            team_id=ask.team_id,
            channel_id=ask.channel_id,
            requester_id=ask.user_id,
            kind=ask.kind,
            prompt=ask.prompt,
            model=self.settings.sora_deployment,
            size=ask.size,
            seconds=ask.seconds,
            thread_ts=ask.thread_ts,
            input_image_path=ask.image_path,
            parent_job_id=ask.parent.id if ask.parent else None,
            parent_video_id=ask.parent.video_id if ask.parent else None,
            dedupe_key=ask.dedupe_key,
            channel_public=await self.channels.is_public(ask.channel_id),
        )
        try:  # the limits are checked in the insert's transaction: a burst cannot pass them
            job = await self.runner.enqueue(new, wake=False, limits=self.limits())
        except QueueFull as full:
            return self.over_limit("queue", full.limit, full.limit)
        except LimitReached as reached:
            return self.over_limit(reached.which, reached.limit, reached.used)
        except DuplicateJob as duplicate:
            log.info("duplicate request %s: job %d exists", ask.dedupe_key, duplicate.job.id)
            return duplicate.job
        try:  # the runner holds the job until its card is known: no Sora spend before
            job = await self.cards.ensure(job)  # in the channel's turn (about 1 a second)
        except PostingStopped:  # the bot is stopping: the card is posted after the start
            self.runner.release(job.id)
            return job
        except SlackApiError as exc:
            error = error_code(exc)
            if error not in PERMANENT:
                # Slack is having a moment: keep the job; its card is posted when it moves.
                log.warning("job %d: card not posted yet (%s); it will be", job.id, error)
                self.runner.release(job.id)
                return job
            log.info("job %d: cannot post its card (%s); canceling it", job.id, error)
            await self.runner.cancel(job.id, by=ask.user_id)
            self.runner.release(job.id)
            if error in NOT_A_MEMBER:
                return Refused(ui.invite_reply(ask.command_text or ask.prompt))
            return Refused(ui.notice(f":warning: I can't post here: {PERMANENT[error]} ({error})."))
        self.runner.release(job.id)
        return job
