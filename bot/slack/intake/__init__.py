"""The one owner of every user action on the Slack side: start, remix, remove, report.

Listeners parse Slack's payload, call one method here, and carry out what it returns: an
``Answer`` that says where it goes (privately to the person, or in the thread), a ``Form``
to open, or None (nothing to say). Only this package reaches the store and the runner.
One module per action (``start``, ``remix``, ``remove``, ``report``) behind this facade,
with the rules they share (allow-list, limits, who may manage a video) in ``rules``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bot.config import Settings
from bot.jobs import JobRunner
from bot.slack.cards import Cards
from bot.slack.channels import ChannelKinds
from bot.slack.files import ImageFetcher
from bot.slack.intake.answer import Answer, Ask, Form, To, in_thread, private
from bot.slack.intake.remix import Remixer
from bot.slack.intake.remove import remove
from bot.slack.intake.report import REPORTS, report
from bot.slack.intake.rules import Rules
from bot.slack.intake.start import Starter
from bot.slack.parse import RemixReply, small_int
from bot.store import Job, Store

__all__ = ["REPORTS", "Answer", "Ask", "Form", "Intake", "To", "in_thread", "private"]


class Intake:
    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        runner: JobRunner,
        cards: Cards,
        channels: ChannelKinds,
        images: ImageFetcher,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.runner = runner
        self.rules = Rules(settings=settings, clock=clock)
        self.starter = Starter(
            settings=settings,
            store=store,
            runner=runner,
            cards=cards,
            channels=channels,
            images=images,
            rules=self.rules,
        )
        self.remixer = Remixer(store=store, runner=runner, rules=self.rules, starter=self.starter)

    # -- rules a listener answers with before it acks -------------------------------------

    def not_here(self, channel: str, thread_ts: str | None = None) -> Answer | None:
        """The answer for a channel outside SORA_ALLOWED_CHANNEL_IDS, or None."""
        return self.rules.not_here(channel, thread_ts)

    async def first_delivery(self, key: str) -> bool:
        """True the first time Slack delivers ``key`` (an event id, a trigger id); False
        for its retries, which must not act twice."""
        return await self.store.claim_event(key)

    # -- start ----------------------------------------------------------------------------

    async def start(self, ask: Ask, *, image_file: str | None = None) -> Answer | None:
        return await self.starter.start(ask, image_file=image_file)

    async def video_form(self, *, channel: str, message: dict[str, Any]) -> Form | Answer:
        """The options form for "Make a video" on ``message``."""
        return await self.starter.form_for_message(channel, message)

    # -- remix ----------------------------------------------------------------------------

    async def remix_reply(
        self, *, channel: str, thread: str, user: str, remix: RemixReply, key: str
    ) -> Answer | None:
        return await self.remixer.reply(
            channel=channel, thread=thread, user=user, remix=remix, key=key
        )

    async def remix_submitted(
        self, *, job_value: Any, user: str, change: str, key: str
    ) -> Answer | None:
        return await self.remixer.from_form(
            job_id=small_int(job_value), user=user, change=change, key=key
        )

    async def remix_form(self, *, channel: str, message_ts: str) -> Form | Answer:
        """The remix form for the Remix shortcut on a message."""
        return await self.remixer.form_for_message(channel, message_ts)

    async def remix_button(self, *, channel: str, job_value: Any) -> Form | Answer | None:
        found = await self._pressed(channel, job_value)
        return found if not isinstance(found, Job) else self.remixer.form(found)

    # -- remove ---------------------------------------------------------------------------

    async def remove_button(self, *, channel: str, user: str, job_value: Any) -> Answer | None:
        found = await self._pressed(channel, job_value)
        return found if not isinstance(found, Job) else await self._remove(found, user)

    async def remove_reaction(
        self, *, channel: str, ts: str, user: str, reaction: str, key: str
    ) -> Answer | None:
        """A delete reaction (SORA_DELETE_REACTIONS) on a video or its card; any other
        reaction, or one outside the allow-list, does nothing."""
        if reaction not in self.rules.settings.delete_reactions:
            return None
        job = await self.store.find_by_message(channel, ts)
        if job is None or not self.rules.allowed(channel):
            return None
        if not await self.first_delivery(key) or not user:
            return None
        return await self._remove(job, user)

    def may_manage(self, user: str, job: Job) -> bool:
        return self.rules.may_manage(user, job)

    async def _remove(self, job: Job, user: str) -> Answer | None:
        return await remove(self.runner, self.rules, job, user)

    async def _pressed(self, channel: str, job_value: Any) -> Job | Answer | None:
        """The job a card's button names, if it is in the conversation it was pressed in
        (a forged or stale id from elsewhere is ignored, exactly like an unknown one)."""
        refused = self.rules.not_here(channel)
        if refused is not None:
            return refused
        job_id = small_int(job_value)
        job = await self.store.get_job(job_id) if job_id is not None else None
        return job if job is not None and job.channel_id == channel else None

    # -- report ---------------------------------------------------------------------------

    def report_refused(self, name: str, channel: str) -> Answer | None:
        """The queue shows others' requests: not outside the allow-list."""
        return self.rules.not_here(channel) if name == "queue" else None

    async def report(
        self, name: str, *, channel: str, user: str, team_domain: str | None
    ) -> Answer:
        """``list``, ``queue`` or ``usage``, privately."""
        message = await report(
            self.store,
            self.rules,
            name,
            user=user,
            team_domain=team_domain,
            backends=self.runner.pool.status(),
        )
        return private(message, channel)
