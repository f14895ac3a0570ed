"""What ``/sora list``, ``/sora queue`` and ``/sora usage`` show. Pure: data in, Message out."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from bot.jobs import BackendStatus
from bot.slack.blocks import Message, clip, escape, notice, progress_bar
from bot.store import Job, JobState

STATE_WORDS = {
    JobState.QUEUED: "queued",
    JobState.SUBMITTING: "starting",
    JobState.RUNNING: "in progress",
    JobState.DOWNLOADING: "finishing",
    JobState.UPLOADING: "finishing",
    JobState.DELIVERED: "done",
    JobState.FAILED: "failed",
    JobState.CANCELED: "canceled",
    JobState.DELETED: "deleted",
}


def month_start(now: float) -> float:
    day = datetime.fromtimestamp(now, UTC)
    return day.replace(day=1, hour=0, minute=0, second=0, microsecond=0).timestamp()


def thread_link(team_domain: str | None, job: Job) -> str | None:
    thread = job.thread_ts or job.card_ts
    if not team_domain or not thread:
        return None
    return f"https://{team_domain}.slack.com/archives/{job.channel_id}/p{thread.replace('.', '')}"


def _prompt(job: Job, limit: int = 80) -> str:
    return escape(clip(" ".join(job.prompt.split()), limit))


def list_message(jobs: list[Job], team_domain: str | None) -> Message:
    if not jobs:
        return notice("You have no videos yet. Try `/sora a corgi surfing at sunset`.")
    lines = ["*Your recent videos*"]
    for job in jobs:
        link = thread_link(team_domain, job)
        label = job.version_label or f"#{job.id}"
        name = f"<{link}|{label}>" if link else label
        lines.append(f"• {name} · {STATE_WORDS[job.state]} · {job.seconds} s · {_prompt(job)}")
    return notice("\n".join(lines))


def may_see(job: Job, viewer: str, admin: bool) -> bool:
    """Whether ``viewer`` may see what ``job`` asked for outside its channel: its requester,
    an admin, or anyone when it was made in a public channel."""
    return admin or viewer == job.requester_id or job.channel_public


def _line(job: Job, viewer: str, admin: bool, state: str | None = None) -> str:
    middle = f" · {state}" if state else ""
    if may_see(job, viewer, admin):
        return f"<@{job.requester_id}>{middle} · {_prompt(job)}"
    return f"a private request{middle} · {job.size} · {job.seconds} s"


def queue_message(
    running: list[Job],
    queued: list[Job],
    positions: dict[int, int],
    *,
    viewer: str,
    admin: bool = False,
) -> Message:
    """What runs and waits, as ``viewer`` may see it: prompts made in a channel they may
    not see (private, DM) show as "a private request" with place and size."""
    if not running and not queued:
        return notice("Nothing is running or waiting. :sparkles:")
    lines = [f"*Running ({len(running)})*"] if running else []
    for job in running:
        progress = progress_bar(job.progress) if job.state == JobState.RUNNING else ""
        state = f"{STATE_WORDS[job.state]} {progress}".strip()
        lines.append(f"• {_line(job, viewer, admin, state)}")
    if queued:
        lines.append(f"*Waiting ({len(queued)})*")
        ordered = sorted(queued, key=lambda j: positions.get(j.id, 10**9))
        for job in ordered[:20]:
            pos = positions.get(job.id)
            lines.append(f"{pos or '·'}. {_line(job, viewer, admin)}")
        if len(ordered) > 20:
            lines.append(f"… and {len(ordered) - 20} more")
    return notice("\n".join(lines))


def capacity_line(backends: Sequence[BackendStatus], busy: Mapping[str | None, int]) -> str:
    """Backends up and slots busy/total; a pool of more than one names each backend."""
    up = [b for b in backends if b.up]
    used = sum(busy.get(b.name, 0) for b in backends)
    total = sum(b.max_running for b in up)
    head = (
        f"*Capacity:* {len(up)} of {len(backends)} backend{'s' if len(backends) != 1 else ''}"
        f" up · {used}/{total} slots busy"
    )
    if len(backends) < 2:
        return head
    parts = []
    for b in backends:
        state = f"{busy.get(b.name, 0)}/{b.max_running}" if b.up else "out of rotation"
        parts.append(f"{b.name} {state}{' (busy, paused)' if b.paused and b.up else ''}")
    return f"{head} ({', '.join(parts)})"


def backend_line(backend: BackendStatus, busy: int) -> str:
    """One backend as admins see it on the Home tab."""
    where = f"*{backend.name}* ({backend.host})"
    if not backend.up:
        return f"{where}: out of rotation ({backend.reason or 'unhealthy'})"
    paused = ", paused after a 429" if backend.paused else ""
    return f"{where}: up, {busy} of {backend.max_running} running{paused}"


def with_capacity(message: Message, line: str) -> Message:
    """The queue report with the capacity line under it."""
    return notice(f"{message.text}\n{line}")


def usage_message(
    user_id: str,
    own_seconds: int,
    price: float,
    everyone: list[tuple[str, int, int]] | None,
    now: float | None = None,
) -> Message:
    month = datetime.fromtimestamp(now if now is not None else time.time(), UTC).strftime("%B %Y")
    lines = [
        f"*Usage in {month}* (estimated at ${price:.2f} a second)",
        f"• You (<@{user_id}>): {own_seconds} s · ${own_seconds * price:,.2f}",
    ]
    if everyone is not None:
        total_s = sum(seconds for _, _, seconds in everyone)
        lines.append(f"*Everyone: {total_s} s · ${total_s * price:,.2f}*")
        for user, jobs, seconds in everyone[:30]:
            lines.append(f"• <@{user}>: {jobs} videos · {seconds} s · ${seconds * price:,.2f}")
    lines.append("_Failed videos and videos blocked by the content policy are not counted._")
    return notice("\n".join(lines))
