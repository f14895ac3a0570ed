"""Delete or cancel a video, from its buttons or a reaction: one permission rule."""

from __future__ import annotations

from bot.jobs import CannotCancel, JobRunner
from bot.slack import blocks as ui
from bot.slack.intake.answer import Answer, private
from bot.slack.intake.rules import Rules
from bot.store import UNFINISHED, Job, JobState


async def remove(runner: JobRunner, rules: Rules, job: Job, user: str) -> Answer | None:
    """Cancel an unfinished job or delete a finished one, if ``user`` may; returns what to
    tell the user privately, or None. Idempotent."""

    def say(text: str) -> Answer:
        return private(ui.notice(text), job.channel_id, job.thread_ts)

    if not rules.may_manage(user, job):
        return say(
            f":lock: Only <@{job.requester_id}> (who asked for it) or a Sora admin can "
            "delete or cancel this video."
        )
    if job.state == JobState.DELETED:
        return None
    if job.state in UNFINISHED:
        try:
            await runner.cancel(job.id, by=user)
        except CannotCancel:
            return say(
                ":hourglass: The video is being posted right now; delete it once it is there."
            )
        return None
    result = await runner.delete(job.id, by=user)
    if result.provider_kept:
        return say(
            ":information_source: Deleted from Slack. The video service does not allow "
            "deleting, so it keeps its copy until it expires (within 24 hours)."
        )
    return None
