"""Starting a remix, whichever surface asked for it."""

from __future__ import annotations

from bot.slack import blocks as ui
from bot.slack.intake import Ask, Refused
from bot.slack.services import Services
from bot.store import Job, JobKind


async def start_remix(
    services: Services, parent: Job, change: str, user: str, dedupe_key: str | None
) -> Refused | ui.Message | None:
    """None when the remix is queued; a Refused (say it privately) or a Message (say it in
    the thread) when it is not. Nothing reaches Sora for a parent that cannot be remixed."""
    problem = services.runner.parent_problem(parent)
    if problem is not None:
        return ui.notice(f":warning: {problem.message}")
    result = await services.intake.start(
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
            dedupe_key=dedupe_key,
        )
    )
    return result if isinstance(result, Refused) else None
