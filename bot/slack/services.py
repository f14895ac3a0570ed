"""What listeners work with: passed in, never global."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.config import Settings
from bot.jobs import JobRunner
from bot.slack import blocks as ui
from bot.slack.cards import Cards
from bot.slack.files import ImageFetcher
from bot.slack.intake import Intake
from bot.store import Job, Store


@dataclass
class Services:
    settings: Settings
    store: Store
    runner: JobRunner
    cards: Cards
    intake: Intake
    images: ImageFetcher
    clock: Callable[[], float] = field(default=time.time)

    def may_manage(self, user_id: str, job: Job) -> bool:
        """Only a video's requester, or an admin, may delete or cancel it."""
        return user_id == job.requester_id or user_id in self.settings.admin_user_ids


def reply(message: ui.Message, **extra: Any) -> dict[str, Any]:
    """A Message as keyword arguments for ack(), respond() or chat.* calls."""
    return {"text": message.text, "blocks": message.blocks, **extra}
