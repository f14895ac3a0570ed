"""Remixing a video: from a ``remix:`` reply in its thread, from the remix form, and the
form itself (the Remix button and shortcut). Nothing reaches Sora for a parent that cannot
be remixed; the thread hears about the video, the person alone about their limits."""

from __future__ import annotations

import dataclasses

from bot.jobs import JobRunner
from bot.slack import blocks as ui
from bot.slack.intake.answer import Answer, Ask, Form, in_thread, private
from bot.slack.intake.rules import Rules
from bot.slack.intake.start import Starter
from bot.slack.parse import RemixReply, is_blank, prompt_too_long
from bot.store import Job, JobKind, Store


class Remixer:
    def __init__(self, *, store: Store, runner: JobRunner, rules: Rules, starter: Starter) -> None:
        self.store = store
        self.runner = runner
        self.rules = rules
        self.starter = starter

    @staticmethod
    def form(job: Job) -> Form:
        return Form(ui.remix_modal({"job": job.id}, job.version_label or "v1"))

    async def form_for_message(self, channel: str, ts: str) -> Form | Answer:
        """The remix form for the Remix shortcut on a message: the bot's video or card."""
        refused = self.rules.not_here(channel)
        if refused is not None:
            return refused
        job = await self.store.find_by_message(channel, ts)
        if job is None:
            return private(
                ui.notice("Use *Remix* on a video the bot posted, or on its card."), channel
            )
        return self.form(job)

    async def reply(
        self, *, channel: str, thread: str, user: str, remix: RemixReply, key: str
    ) -> Answer | None:
        """A ``remix: CHANGE`` (or ``remix v2: CHANGE``) reply in a thread."""
        refused = self.rules.not_here(channel, thread)
        if refused is not None:
            return refused
        jobs = await self.store.jobs_in_thread(channel, thread)

        def say(text: str) -> Answer:
            return in_thread(ui.notice(text), channel, thread)

        if not jobs:
            return say("There is no video in this thread to remix. Start one with `/sora PROMPT`.")
        too_long = prompt_too_long(remix.change)
        if too_long is not None:
            return say(too_long)
        if is_blank(remix.change):
            return say("Say what should change, for example `remix: make it night time`.")
        if remix.version:
            parent = await self.store.job_by_version(channel, thread, remix.version)
            if parent is None:
                labels = ", ".join(j.version_label for j in jobs if j.version_label) or "none"
                return say(f"There is no {remix.version} in this thread (versions here: {labels}).")
        else:
            parent = await self.store.latest_delivered_in_thread(channel, thread)
            if parent is None and any(j.unfinished for j in jobs):
                return say("No video in this thread is finished yet: remix it once it is here.")
            if parent is None:  # every version failed or was deleted: start() says why
                parent = jobs[-1]
        return await self.start(parent, remix.change, user, key, thread=thread)

    async def from_form(
        self, *, job_id: int | None, user: str, change: str, key: str
    ) -> Answer | None:
        """The remix form's submission (its change already checked by the form)."""
        parent = await self.store.get_job(job_id) if job_id is not None else None
        if parent is None or not user:
            return None
        thread = parent.thread_ts or parent.card_ts or ""
        return await self.start(parent, change, user, key, thread=thread)

    async def start(
        self, parent: Job, change: str, user: str, key: str | None, *, thread: str
    ) -> Answer | None:
        """Remix ``parent``; answers go to ``thread`` (where the person asked)."""
        problem = self.runner.parent_problem(parent)
        if problem is not None:
            return in_thread(ui.notice(f":warning: {problem.message}"), parent.channel_id, thread)
        refused = await self.starter.start(
            Ask(
                team_id=parent.team_id,
                channel_id=parent.channel_id,
                user_id=user,
                prompt=change,
                size=parent.size,
                seconds=parent.seconds,
                thread_ts=parent.thread_ts or parent.card_ts,
                kind=JobKind.REMIX,
                parent=parent,
                dedupe_key=key,
            )
        )
        return dataclasses.replace(refused, thread_ts=thread) if refused else None
