"""Delete or cancel: the one permission rule for buttons and reactions."""

from __future__ import annotations

from bot.jobs import CannotCancel
from bot.slack import blocks as ui
from bot.slack.services import Services
from bot.store import UNFINISHED, Job, JobState


async def remove(services: Services, job: Job, user: str) -> ui.Message | None:
    """Cancel an unfinished job or delete a finished one, if ``user`` may; returns what to
    tell the user privately, or None. Idempotent."""
    if not services.may_manage(user, job):
        return ui.notice(
            f":lock: Only <@{job.requester_id}> (who asked for it) or a Sora admin can "
            "delete or cancel this video."
        )
    if job.state == JobState.DELETED:
        return None
    if job.state in UNFINISHED:
        try:
            await services.runner.cancel(job.id, by=user)
        except CannotCancel:
            return ui.notice(
                ":hourglass: The video is being posted right now; delete it once it is there."
            )
        return None
    result = await services.runner.delete(job.id, by=user)
    if result.provider_kept:
        return ui.notice(
            ":information_source: Deleted from Slack. The video service does not allow "
            "deleting, so it keeps its copy until it expires (within 24 hours)."
        )
    return None
