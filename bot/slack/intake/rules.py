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

    def too_many_variants(self, variants: int) -> ui.Message | None:
        """The answer to more variants than SORA_MAX_VARIANTS (or fewer than one), or None."""
        cap = self.settings.max_variants
        if 1 <= variants <= cap:
            return None
        return ui.notice(
            f":warning: You asked for {variants} variants; one request may have at most "
            f"{cap}. For example `--variants 2`."
        )

    @staticmethod
    def group_over_limit(which: str, limit: int, used: int, count: int, seconds: int) -> ui.Message:
        """Why ``count`` variants of ``seconds`` s each do not fit, and how many would."""
        if which == "queue":
            room = max(0, limit - used)
            return ui.notice(
                f":hourglass: {count} variants would pass your limit of {limit} videos "
                f"waiting: you have {used} waiting, so {room} more fit now. Ask for fewer "
                "variants, or try again when one has started."
            )
        left = max(0, limit - used)
        fits = left // seconds if seconds else 0
        return ui.notice(
            f":stopwatch: {count} variants of {seconds} s are {count * seconds} seconds, more "
            f"than the {left} you have left of your {limit} seconds a day: {fits} would fit. "
            "Ask for fewer variants or shorter clips."
        )
