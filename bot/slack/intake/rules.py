"""Who may do what, where: the channel allow-list, the per-user limits, admins, and the
one permission rule for deleting or canceling a video. No I/O."""

from __future__ import annotations

from collections.abc import Callable

from bot.config import Settings
from bot.slack import blocks as ui
from bot.slack.intake.answer import Answer, private
from bot.store import Job, Limits

DAY = 86400


class Rules:
    def __init__(self, *, settings: Settings, clock: Callable[[], float]) -> None:
        self.settings = settings
        self.clock = clock

    def allowed(self, channel_id: str) -> bool:
        allowed = self.settings.allowed_channel_ids
        return not allowed or channel_id in allowed

    def not_here(self, channel_id: str, thread_ts: str | None = None) -> Answer | None:
        """The answer for a channel outside SORA_ALLOWED_CHANNEL_IDS, or None."""
        if self.allowed(channel_id):
            return None
        return private(ui.notice(
            ":no_entry_sign: Sora isn't enabled in this channel. Ask a workspace admin, "
            "or use a channel where it is."
        ), channel_id, thread_ts)  # fmt: skip

    def is_admin(self, user_id: str) -> bool:
        return user_id in self.settings.admin_user_ids

    def may_manage(self, user_id: str, job: Job) -> bool:
        """Only a video's requester, or an admin, may delete or cancel it."""
        return user_id == job.requester_id or self.is_admin(user_id)

    def limits(self) -> Limits:
        return Limits(
            max_queued=self.settings.max_queued_per_user,
            daily_seconds=self.settings.user_daily_seconds,
            since=self.clock() - DAY,
        )

    @staticmethod
    def over_limit(which: str, limit: int, used: int) -> ui.Message:
        if which == "queue":
            return ui.notice(
                f":hourglass: You already have {limit} videos waiting, the most one person "
                "may queue. Try again when one has started, or cancel one from its card."
            )
        return ui.notice(
            f":stopwatch: That would pass your limit of {limit} seconds of video a day: you "
            f"have {max(0, limit - used)} seconds left (failed and blocked videos don't "
            "count). A shorter clip may fit: `--seconds 4`."
        )
