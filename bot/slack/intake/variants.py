"""Variants: ``/sora PROMPT --variants N`` (and the form's Variants choice) makes N jobs of
the same settings as one group. The group is counted against the limits together, in the
insert's transaction (queued whole or not at all), capped by SORA_MAX_VARIANTS, labelled
vA, vB, ... and shown on one card; "Keep vA" deletes the others at Azure and in Slack.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from bot.jobs import JobRunner, QueueFull
from bot.slack import blocks as ui
from bot.slack.intake.answer import Answer, Ask, private
from bot.slack.intake.rules import Rules
from bot.store import DuplicateJob, Job, JobState, LimitReached, NewJob, Store

if TYPE_CHECKING:
    from bot.slack.intake.start import Starter

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def variant_label(index: int) -> str:
    return f"v{LETTERS[index % 26]}{'' if index < 26 else index // 26}"


class Variants:
    def __init__(self, *, starter: Starter, store: Store, runner: JobRunner, rules: Rules) -> None:
        self.starter = starter
        self.store = store
        self.runner = runner
        self.rules = rules

    async def check(self, ask: Ask) -> Answer | None:
        """Why this group may not start now, or None (admit() checks again, atomically)."""
        many = self.rules.too_many_variants(ask.variants)
        if many is not None:
            return private(many, ask.channel_id, ask.thread_ts)
        limits = self.rules.limits()
        queued = await self.store.count_queued_for_user(ask.user_id)
        if queued + ask.variants > limits.max_queued:
            return self._refused(ask, "queue", limits.max_queued, queued)
        if limits.daily_seconds:
            used = await self.store.seconds_used(ask.user_id, limits.since)
            if used + ask.seconds * ask.variants > limits.daily_seconds:
                return self._refused(ask, "daily", limits.daily_seconds, used)
        return None

    async def admit(self, ask: Ask, new: NewJob) -> Job | Answer:
        """Queue the group (its first job is returned), or say why not."""
        group = secrets.token_hex(6)
        frames = await self._frames(ask.image_path, ask.variants)
        news = [
            dataclasses.replace(
                new,
                variant_group=group,
                version_label=variant_label(i),
                input_image_path=frames[i],
                dedupe_key=f"{new.dedupe_key}#{i}" if i and new.dedupe_key else new.dedupe_key,
            )
            for i in range(ask.variants)
        ]
        try:
            jobs = await self.runner.enqueue_group(news, wake=False, limits=self.rules.limits())
        except (QueueFull, LimitReached, DuplicateJob) as refused:
            await self._discard(frames[1:])
            if isinstance(refused, DuplicateJob):
                return refused.job
            if isinstance(refused, QueueFull):
                return self._refused(ask, "queue", refused.limit, refused.limit)
            return self._refused(ask, refused.which, refused.limit, refused.used)
        first = await self.starter.post_card(jobs[0], ask)
        for job in jobs[1:]:  # they share the first one's card (bot.slack.cards)
            if isinstance(first, Answer):
                await self.runner.cancel(job.id, by=ask.user_id)
                self.runner.release(job.id)
            else:
                await self.starter.post_card(job, ask)
        return first

    async def keep(self, kept: Job, user: str) -> Answer:
        """Keep one variant: delete (or cancel) the others of its group."""
        where = (kept.channel_id, kept.thread_ts)
        if not self.rules.may_manage(user, kept):
            return private(ui.notice(
                ":lock: Only the person who asked for these variants (or an admin) may choose."
            ), *where)  # fmt: skip
        if kept.state != JobState.DELIVERED or not kept.variant_group:
            return private(ui.notice(":warning: Only a finished variant can be kept."), *where)
        removed = []
        for job in await self.store.jobs_in_group(kept.variant_group):
            if job.id == kept.id:
                continue
            if job.unfinished:
                await self.runner.cancel(job.id, by=user)
                removed.append(job.version_label or "")
            elif job.state in (JobState.DELIVERED, JobState.FAILED, JobState.CANCELED):
                await self.runner.delete(job.id, by=user)
                removed.append(job.version_label or "")
        gone = ", ".join(sorted(filter(None, removed))) or "nothing else"
        return private(ui.notice(
            f":white_check_mark: Kept *{kept.version_label}*; deleted {gone}."
        ), *where)  # fmt: skip

    def _refused(self, ask: Ask, which: str, limit: int, used: int) -> Answer:
        message = self.rules.group_over_limit(which, limit, used, ask.variants, ask.seconds)
        return private(message, ask.channel_id, ask.thread_ts)

    @staticmethod
    async def _frames(path: str | None, count: int) -> list[str | None]:
        """The first frame for each variant: the fitted image, and a copy for each other
        one (a job's frame is removed once Azure has it)."""
        if path is None:
            return [None] * count
        copies = [f"{path}.{variant_label(i)}{Path(path).suffix}" for i in range(1, count)]
        for copy in copies:
            await asyncio.to_thread(shutil.copyfile, path, copy)
        return [path, *copies]

    @staticmethod
    async def _discard(paths: list[str | None]) -> None:
        for path in paths:
            if path:
                await asyncio.to_thread(Path(path).unlink, True)
