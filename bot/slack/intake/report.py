"""``/sora list``, ``queue`` and ``usage``: what each person may see of the jobs."""

from __future__ import annotations

from collections.abc import Sequence

from bot.jobs import BackendStatus
from bot.slack import blocks as ui
from bot.slack import reports
from bot.slack.intake.rules import Rules
from bot.store import UNFINISHED, JobState, Store

REPORTS = ("list", "queue", "usage")


async def report(
    store: Store,
    rules: Rules,
    name: str,
    *,
    user: str,
    team_domain: str | None,
    backends: Sequence[BackendStatus] = (),
) -> ui.Message:
    if name == "list":
        jobs = await store.recent_jobs_for_user(user, limit=10)
        return reports.list_message(jobs, team_domain)
    admin = rules.is_admin(user)
    if name == "queue":
        # One read: a job admitted between two reads would be in neither list.
        unfinished = await store.jobs_in_states(*UNFINISHED)
        running = [job for job in unfinished if job.state != JobState.QUEUED]
        queued = [job for job in unfinished if job.state == JobState.QUEUED]
        positions = await store.queue_positions()
        message = reports.queue_message(running, queued, positions, viewer=user, admin=admin)
        if not backends:
            return message
        busy = await store.running_by_backend()
        return reports.with_capacity(message, reports.capacity_line(backends, busy))
    now = rules.clock()
    since = reports.month_start(now)
    own = await store.seconds_used(user, since)
    everyone = await store.usage_by_user(since) if admin else None
    return reports.usage_message(user, own, rules.settings.price_per_second, everyone, now)
