"""Starting a video from any surface: the checks, the first-frame image, the row, the card.

Every surface (``/sora``, the modal, remix replies, shortcuts, the Remix button) comes
through here, so the channel allow-list, the per-user queue cap and the daily seconds quota
apply alike, a retried Slack delivery never makes a second job (``dedupe_key``), and nothing
reaches Sora for a request that is refused. The cap and the quota are checked in the same
store transaction that writes the job, so requests that arrive together cannot all pass.
Each job records whether its channel is public, so listings know whom to show its prompt.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from pathlib import Path
from typing import Any

from slack_sdk.errors import SlackApiError

from bot.config import Settings
from bot.jobs import JobRunner, QueueFull
from bot.media import MediaError, orientation_size
from bot.sizes import DEFAULT_SIZE
from bot.slack import blocks as ui
from bot.slack.cards import Cards
from bot.slack.channels import ChannelKinds
from bot.slack.errors import NOT_A_MEMBER, PERMANENT, error_code
from bot.slack.files import ImageFetcher, first_image, mrkdwn_to_plain
from bot.slack.intake.answer import Answer, Ask, Form, private
from bot.slack.intake.rules import Rules
from bot.slack.intake.variants import Variants
from bot.slack.parse import prompt_too_long
from bot.slack.posting import PostingStopped
from bot.store import DuplicateJob, Job, JobKind, LimitReached, NewJob, Store

log = logging.getLogger(__name__)


class Starter:
    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        runner: JobRunner,
        cards: Cards,
        channels: ChannelKinds,
        images: ImageFetcher,
        rules: Rules,
    ) -> None:
        self.settings = settings
        self.store = store
        self.runner = runner
        self.cards = cards
        self.channels = channels
        self.images = images
        self.rules = rules
        self.variants = Variants(starter=self, store=store, runner=runner, rules=rules)

    async def form_for_message(self, channel: str, message: dict[str, Any]) -> Form | Answer:
        """The options form for "Make a video" on a message: its text as the prompt, its
        first image (if any) as first frame, the image's shape as the video's."""
        refused = self.rules.not_here(channel)
        if refused is not None:
            return refused
        meta: dict[str, Any] = {"c": channel, "t": message.get("thread_ts") or message.get("ts")}
        size = DEFAULT_SIZE
        image = first_image(message.get("files") or [])
        if image is not None and not (image.width and image.height):
            image = await self.images.described(image)
        if image is not None:
            meta.update(f=image.file_id, n=image.name[:60])
            if image.width and image.height:
                size = orientation_size(image.width, image.height)
        return Form(ui.options_modal(
            meta,
            prompt=mrkdwn_to_plain(str(message.get("text") or "")),
            size=size,
            image_name=image.name if image else None,
            max_variants=self.settings.max_variants,
        ))  # fmt: skip

    async def start(self, ask: Ask, *, image_file: str | None = None) -> Answer | None:
        """Start the video (from ``image_file`` as first frame, if given); None once it is
        queued (or was already, for a retried delivery), else the private answer."""
        if image_file is not None:
            refused = await self.check(ask)
            if refused is not None:
                return refused
            fitted = await self.images.first_frame(image_file, ask.size)
            if isinstance(fitted, MediaError):
                return self._private(ask, f":frame_with_picture: Can't use that image: {fitted}.")
            ask = dataclasses.replace(ask, kind=JobKind.IMAGE, image_path=str(fitted))
        result = await self.admit(ask)
        unused = isinstance(result, Answer) or result.input_image_path != ask.image_path
        if ask.image_path and unused:  # refused, or a duplicate: fitted for no job
            await asyncio.to_thread(Path(ask.image_path).unlink, True)
        return result if isinstance(result, Answer) else None

    async def check(self, ask: Ask) -> Answer | None:
        """Why this person may not start a video here now, or None. A cheap look before
        slow work (fetching an image); admit() checks again, atomically, with the insert."""
        refused = self.rules.not_here(ask.channel_id, ask.thread_ts)
        if refused is not None:
            return refused
        if ask.variants != 1:
            return await self.variants.check(ask)
        limits = self.rules.limits()
        if await self.runner.queue_full(ask.user_id):
            return self._refused(ask, "queue", limits.max_queued, limits.max_queued)
        if limits.daily_seconds:
            used = await self.store.seconds_used(ask.user_id, limits.since)
            if used + ask.seconds > limits.daily_seconds:
                return self._refused(ask, "daily", limits.daily_seconds, used)
        return None

    async def admit(self, ask: Ask) -> Job | Answer:
        """The queued job (the existing one for a used ``dedupe_key``), or why not."""
        too_long = prompt_too_long(ask.prompt)
        if too_long is not None:
            return self._private(ask, f":warning: {too_long}")
        refused = self.rules.not_here(ask.channel_id, ask.thread_ts)
        if refused is not None:
            return refused
        if ask.variants != 1 and (many := self.rules.too_many_variants(ask.variants)):
            return private(many, ask.channel_id, ask.thread_ts)
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
            function_execution_id=ask.function_execution_id,
        )
        if ask.variants > 1:
            return await self.variants.admit(ask, new)
        try:  # the limits are checked in the insert's transaction: a burst cannot pass them
            job = await self.runner.enqueue(new, wake=False, limits=self.rules.limits())
        except QueueFull as full:
            return self._refused(ask, "queue", full.limit, full.limit)
        except LimitReached as reached:
            return self._refused(ask, reached.which, reached.limit, reached.used)
        except DuplicateJob as duplicate:
            log.info("duplicate request %s: job %d exists", ask.dedupe_key, duplicate.job.id)
            return duplicate.job
        return await self.post_card(job, ask)

    async def post_card(self, job: Job, ask: Ask) -> Job | Answer:
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
                return private(
                    ui.invite_reply(ask.command_text or ask.prompt), ask.channel_id, ask.thread_ts
                )
            return self._private(ask, f":warning: I can't post here: {PERMANENT[error]} ({error}).")
        self.runner.release(job.id)
        return job

    def _refused(self, ask: Ask, which: str, limit: int, used: int) -> Answer:
        return private(self.rules.over_limit(which, limit, used), ask.channel_id, ask.thread_ts)

    @staticmethod
    def _private(ask: Ask, text: str) -> Answer:
        return private(ui.notice(text), ask.channel_id, ask.thread_ts)
