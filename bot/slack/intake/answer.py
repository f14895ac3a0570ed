"""What every user action returns: an Answer that says where it goes, a Form to open,
or None (nothing to say). Listeners only carry these out."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from bot.slack import blocks as ui
from bot.store import Job, JobKind


class To(Enum):
    PRIVATE = "private"  # only the person who acted sees it (ephemeral, or a DM)
    THREAD = "thread"  # everyone in the thread sees it


@dataclass(frozen=True)
class Answer:
    message: ui.Message
    to: To
    channel: str
    thread_ts: str | None = None


def private(message: ui.Message, channel: str, thread_ts: str | None = None) -> Answer:
    return Answer(message, To.PRIVATE, channel, thread_ts)


def in_thread(message: ui.Message, channel: str, thread_ts: str) -> Answer:
    return Answer(message, To.THREAD, channel, thread_ts)


@dataclass(frozen=True)
class Form:
    """A modal to open with the action's trigger."""

    view: dict[str, Any]


@dataclass(frozen=True)
class Ask:
    """One request for a video, whatever surface it came from."""

    team_id: str
    channel_id: str
    user_id: str
    prompt: str
    size: str
    seconds: int
    thread_ts: str | None = None
    kind: JobKind = JobKind.TEXT
    parent: Job | None = None
    image_path: str | None = None
    dedupe_key: str | None = None
    command_text: str | None = None  # to echo back if the bot cannot post
    function_execution_id: str | None = None  # a Workflow Builder step waits for the video
    variants: int = 1  # `--variants N`: N jobs of the same settings, one group
