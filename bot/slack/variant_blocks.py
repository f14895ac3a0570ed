"""The one card of a variants group (``/sora PROMPT --variants N``): every variant's state
as they finish, a "Keep vX" button for each finished one, a Cancel for each unfinished
one. Pure: no I/O, like bot.slack.blocks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bot.slack.blocks import (
    ACTION_CANCEL,
    Blocks,
    Message,
    _button,
    _context,
    _mrkdwn,
    _wide,
    clip,
    escape,
    quote,
    status_line,
)
from bot.store import Job, JobState

ACTION_KEEP = "sora_keep_button"
UNFINISHED = (JobState.QUEUED, JobState.SUBMITTING, JobState.RUNNING)


def group_card(
    jobs: Sequence[Job], positions: Mapping[int, int | None], *, quiet: bool = False
) -> Message:
    """The card of ``jobs`` (one group, in order vA, vB, ...). ``quiet``: its first post,
    which names nobody (a new message mentioning the requester would notify them)."""
    first = jobs[0]
    who = "*New request*:" if quiet else f"*<@{first.requester_id}>*"
    count = len(jobs)
    shape = "landscape" if _wide(first.size) else "portrait"
    blocks: Blocks = [
        _mrkdwn(f":clapper: {who} asked for {count} variants\n"
                f"{quote(first.prompt)}"),
        _context(f"{first.size} · {shape} · {first.seconds} s each · {count} variants, "
                 f"{count * first.seconds} s in all"),
    ]  # fmt: skip
    for job in jobs:
        blocks.append(_mrkdwn(f"*{job.version_label}* · {status_line(job, positions.get(job.id))}"))
    delivered = [j for j in jobs if j.state == JobState.DELIVERED]
    alive = [j for j in jobs if j.state != JobState.DELETED and j.state != JobState.CANCELED]
    buttons = []
    if len(alive) > 1:
        for job in delivered:
            label = job.version_label or ""
            buttons.append(_button(f"Keep {label}", ACTION_KEEP, str(job.id), "primary"))
    for job in jobs:
        if job.state in UNFINISHED:
            buttons.append(_button(f"Cancel {job.version_label or ''}", ACTION_CANCEL, str(job.id)))
    if buttons:
        blocks.append({"type": "actions", "block_id": f"group-{first.id}", "elements": buttons})
    done = sum(1 for j in jobs if j.state == JobState.DELIVERED)
    whom = "" if quiet else f" for <@{first.requester_id}>"
    text = f"{count} videos{whom}: {done} of {count} done: "
    return Message(clip(text + escape(first.prompt), 3000), blocks)
