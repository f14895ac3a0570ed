"""The one owner of every user action on the Slack side: start, remix, remove, report.

Listeners parse Slack's payload, call one method here, and carry out what it returns: an
``Answer`` that says where it goes (privately to the person, or in the thread), a ``Form``
to open, or None (nothing to say). Only this package reaches the store and the runner.
One module per action (``start``, ``remix``, ``remove``, ``report``, ``home`` for the Home
tab) behind this facade, with the rules they share (allow-list, limits, who may manage a
video) in ``rules``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bot.config import Settings
from bot.jobs import JobRunner
from bot.sizes import DEFAULT_SECONDS
from bot.slack import blocks as ui
from bot.slack import reports, spend_blocks
from bot.slack.cards import Cards
from bot.slack.channels import ChannelKinds
from bot.slack.files import ImageFetcher
from bot.slack.home import HomePublisher
from bot.slack.home_blocks import HomePage, new_video_modal
from bot.slack.intake.answer import Answer, Ask, Form, To, in_thread, private
from bot.slack.intake.home import HomeDesk, PoolHealth
from bot.slack.intake.remix import Remixer
from bot.slack.intake.remove import remove
from bot.slack.intake.report import REPORTS, report
from bot.slack.intake.rules import Rules
from bot.slack.intake.spend import Spend
from bot.slack.intake.start import Starter
from bot.slack.intake.step import StepStarter
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
        home: HomePublisher | None = None,
        pool_health: PoolHealth | None = None,
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
        self.steps = StepStarter(starter=self.starter)
        self.spend = Spend(settings=settings, store=store, rules=self.rules, starter=self.starter)
        self.home = home
        self.desk = HomeDesk(
            store=store,
            rules=self.rules,
            cards=cards,
            runner=runner,
            remixer=self.remixer,
            pool_health=pool_health or self.pool_health,
        )
        if home is not None:
            home.source = self.home_page

    async def pool_health(self) -> list[str]:
        """One line per backend for admins' Home tabs: its host, up with its slots busy, or
        out of rotation and why (the same figures as `/sora queue`'s capacity line)."""
        busy = await self.store.running_by_backend()
        return [reports.backend_line(b, busy.get(b.name, 0)) for b in self.runner.pool.status()]

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
        """Start the video; a request over SORA_CONFIRM_ABOVE_SECONDS is held instead, and
        its requester asked to confirm (nothing queued, nothing sent to Sora until then)."""
        if self.spend.needs_confirm(ask):
            return await self.spend.hold(ask, image_file=image_file)
        return await self.starter.start(ask, image_file=image_file)

    async def video_form(
        self, *, channel: str, message: dict[str, Any], user: str | None = None
    ) -> Form | Answer:
        """The options form for "Make a video" on ``message`` (with ``user``'s cost line)."""
        form = await self.starter.form_for_message(channel, message)
        if isinstance(form, Form) and user:
            return Form(await self.spend.priced_view(form.view, user=user, seconds=None))
        return form

    async def options_form(self, *, channel: str, user: str) -> Form:
        """The empty options form (``/sora`` alone), with what a video costs ``user``."""
        quote = await self.spend.quote(user, DEFAULT_SECONDS)
        return Form(ui.options_modal(
            {"c": channel},
            cost=spend_blocks.cost_block(quote),
            max_variants=self.rules.settings.max_variants,
        ))  # fmt: skip

    async def priced_form(
        self, *, view: dict[str, Any], user: str, seconds: Any, variants: Any = 1
    ) -> dict[str, Any]:
        """The options form as it is now, its cost line following the chosen duration."""
        return await self.spend.priced_view(view, user=user, seconds=seconds, variants=variants)

    async def confirm(self, *, user: str, key: Any, channel: str) -> Answer:
        """The Confirm button of a held request: queue it once, or say why not."""
        return await self.spend.confirm(user=user, key=str(key or ""), channel=channel)

    async def decline(self, *, user: str, key: Any, channel: str) -> Answer:
        return await self.spend.decline(user=user, key=str(key or ""), channel=channel)

    async def workflow_step(
        self, *, execution_id: str, team_id: str, inputs: dict[str, Any]
    ) -> str | None:
        """The Workflow Builder step "Make a video": None once queued, else the plain
        reason to fail the step with (nothing spent)."""
        return await self.steps.start(execution_id=execution_id, team_id=team_id, inputs=inputs)

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

    async def keep_button(self, *, channel: str, user: str, job_value: Any) -> Answer | None:
        """ "Keep vA" on a variants card: delete the group's other variants."""
        found = await self._pressed(channel, job_value)
        if not isinstance(found, Job):
            return found
        return await self.starter.variants.keep(found, user)

    # -- remove ---------------------------------------------------------------------------

    async def remove_button(self, *, channel: str, user: str, job_value: Any) -> Answer | None:
        found = await self._pressed(channel, job_value)
        return found if not isinstance(found, Job) else await self._remove(found, user)

    async def remove_reaction(
        self, *, channel: str, ts: str, user: str, reaction: str, key: str
    ) -> Answer | None:
        """A delete reaction (SORA_DELETE_REACTIONS) on a video or its card (on a variants
        card: every variant); any other reaction, or one outside the allow-list, does
        nothing."""
        if reaction not in self.rules.settings.delete_reactions:
            return None
        job = await self.store.find_by_message(channel, ts)
        if job is None or not self.rules.allowed(channel):
            return None
        if not await self.first_delivery(key) or not user:
            return None
        if job.variant_group and ts == job.card_ts:  # a variants card: the whole group
            said = [
                await self._remove(j, user)
                for j in await self.store.jobs_in_group(job.variant_group)
            ]
            return next((answer for answer in said if answer is not None), None)
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

    # -- the Home tab ---------------------------------------------------------------------

    def home_opened(self, user: str) -> None:
        """``user`` opened the Home tab: it is published soon (coalesced, paced)."""
        if self.home is not None:
            self.home.opened(user)

    async def home_page(self, user: str, offset: int, workspace_url: str | None) -> HomePage:
        return await self.desk.page(user, offset=offset, workspace_url=workspace_url)

    def home_form(self) -> Form:
        """The New video form opened from Home (it asks where the video goes)."""
        return Form(new_video_modal())

    async def home_remix(self, *, user: str, job_value: Any) -> Form | Answer | None:
        return await self.desk.remix(user, job_value)

    async def home_remove(self, *, user: str, job_value: Any) -> Answer | None:
        answer = await self.desk.remove(user, job_value)
        self._refresh(user)
        return answer

    async def home_notices(self, *, user: str, value: Any) -> None:
        await self.desk.set_notices(user, value)
        self._refresh(user)

    def home_more(self, *, user: str, value: Any) -> None:
        if self.home is not None and user:
            self.home.show_page(user, small_int(value) or 0)

    def _refresh(self, user: str) -> None:
        if self.home is not None:
            self.home.refresh(user)
