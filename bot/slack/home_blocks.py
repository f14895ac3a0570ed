"""The Home tab: what it shows (plain data, filled by ``bot.slack.intake.home``) and its
Block Kit view. Pure: no I/O.

A Home view holds at most 100 blocks: a page shows ``PAGE`` videos (3 blocks each) with
"Older"/"Newer" buttons and says "showing N of M"; the admin part is a few sections
whose lines are capped. First frames are ``slack_file`` images (private files of the bot,
bot.slack.thumbnails), never public URLs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.slack import blocks as ui
from bot.slack import reports
from bot.store import Job, JobState

HOME_NEW = "sora_home_new"
HOME_REMIX = "sora_home_remix"
HOME_DELETE = "sora_home_delete"
HOME_CANCEL = "sora_home_cancel"
HOME_NOTICES = "sora_home_notices"
HOME_PAGE = "sora_home_page"
WHERE = ("where", "where_input")  # the channel picker of the New video form
PAGE = 10  # videos per page: 3 blocks each, far below 100 with the rest
ADMIN_LINES = 20
VIEW_BLOCKS_MAX = 100
S = JobState


@dataclass(frozen=True)
class HomeVideo:
    job: Job
    parent_label: str | None = None
    position: int | None = None  # its place in line, when queued
    thumb_file_id: str | None = None  # a private Slack file of the first frame


@dataclass(frozen=True)
class Usage:
    month_seconds: int
    price_per_second: float
    daily_limit: int  # 0: no limit
    day_used: int


@dataclass(frozen=True)
class AdminPanel:
    running: list[Job]
    queued: list[Job]  # in queue order
    positions: dict[int, int]
    totals: list[tuple[str, int, int]]  # (user, videos, seconds) this month
    health: list[str] | None = None  # one line per backend, when a pool is configured


@dataclass(frozen=True)
class HomePage:
    user: str
    videos: list[HomeVideo]
    total: int  # all their videos
    offset: int
    usage: Usage
    notify: bool
    workspace_url: str | None = None  # "https://acme.slack.com/", for thread links
    admin: AdminPanel | None = None
    waiting: list[int] = field(default_factory=list)  # their places in line, sorted


def thread_link(workspace_url: str | None, job: Job) -> str | None:
    thread = job.thread_ts or job.card_ts
    if not workspace_url or not thread:
        return None
    base = workspace_url if workspace_url.endswith("/") else workspace_url + "/"
    return f"{base}archives/{job.channel_id}/p{thread.replace('.', '')}"


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": ui.clip(text, 75), "emoji": True}


def _section(text: str, accessory: dict[str, Any] | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {
        "type": "section",
        "text": {"type": "mrkdwn", "text": ui.clip(text, ui.SECTION_MAX)},
    }
    if accessory is not None:
        block["accessory"] = accessory
    return block


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": ui.clip(text, 3000)}]}


def _button(text: str, action: str, value: str, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {"type": "button", "text": _plain(text), "action_id": action,
                              "value": value}  # fmt: skip
    if style:
        button["style"] = style
    return button


def state_text(job: Job, position: int | None) -> str:
    if job.state == S.QUEUED:
        return f"queued, {ui.place_in_line(position)}"
    if job.state == S.RUNNING:
        return f"making it {ui.progress_bar(job.progress)}"
    if job.state == S.FAILED:
        return f"failed: {ui.escape(ui.clip(job.error_message or 'no reason given', 200))}"
    return reports.STATE_WORDS[job.state]


def _video(video: HomeVideo, workspace_url: str | None) -> list[dict[str, Any]]:
    job = video.job
    label = job.version_label or f"#{job.id}"
    lineage = f" · remix of {video.parent_label}" if video.parent_label else ""
    link = thread_link(workspace_url, job)
    where = f" · <{link}|open the thread>" if link else ""
    text = f"*{label}*{lineage}{where}\n{ui.quote(ui.clip(job.prompt, 600))}"
    image = None
    if video.thumb_file_id and job.state == S.DELIVERED:
        image = {"type": "image", "slack_file": {"id": video.thumb_file_id},
                 "alt_text": ui.clip(f"First frame of {label}", 2000)}  # fmt: skip
    blocks = [
        _section(text, image),
        _context(f"{ui.settings_line(job)} · {state_text(job, video.position)}"),
    ]
    buttons = []
    if job.state in (S.QUEUED, S.SUBMITTING, S.RUNNING):
        buttons.append(_button("Cancel", HOME_CANCEL, str(job.id)))
    elif job.state == S.DELIVERED:
        buttons.append(_button("Remix", HOME_REMIX, str(job.id), "primary"))
        buttons.append(_button("Delete", HOME_DELETE, str(job.id), "danger"))
    if buttons:
        blocks.append({"type": "actions", "block_id": f"home-job-{job.id}", "elements": buttons})
    return blocks


def _usage(page: HomePage) -> str:
    u = page.usage
    month = f"This month: {u.month_seconds} s (about ${u.month_seconds * u.price_per_second:,.2f})"
    if u.daily_limit > 0:
        left = max(0, u.daily_limit - u.day_used)
        day = f"today: {left} of {u.daily_limit} s left"
    else:
        day = "no daily limit"
    if page.waiting:
        places = ", ".join(ui.place_in_line(p) for p in page.waiting[:5])
        line = f"{len(page.waiting)} waiting ({places})"
    else:
        line = "nothing waiting"
    return f"{month} · {day} · {line}"


def _pager(page: HomePage) -> list[dict[str, Any]]:
    shown = len(page.videos)
    if page.total <= shown and page.offset == 0:
        return []
    first, last = page.offset + 1, page.offset + shown
    text = (
        f"Showing {first}–{last} of {page.total} videos, newest first. "
        "`/sora list` lists your latest in any channel."
    )
    blocks: list[dict[str, Any]] = [_context(text)]
    buttons = []
    if page.offset > 0:
        buttons.append(_button("Newer", HOME_PAGE, str(max(0, page.offset - PAGE))))
    if last < page.total:
        buttons.append(_button("Older", HOME_PAGE, str(last)))
    if buttons:
        blocks.append({"type": "actions", "block_id": "home-pages", "elements": buttons})
    return blocks


def _admin(panel: AdminPanel, viewer: str) -> list[dict[str, Any]]:
    def who(job: Job) -> str:  # a prompt made where the admin may not be is not shown
        if reports.may_see(job, viewer, admin=False):
            return f"<@{job.requester_id}> · {ui.escape(ui.clip(' '.join(job.prompt.split()), 60))}"
        return f"<@{job.requester_id}> · a private request · {job.size} · {job.seconds} s"

    lines = [f"*Running ({len(panel.running)})*"]
    lines += [f"• {who(j)} · {state_text(j, None)}" for j in panel.running[:ADMIN_LINES]]
    lines.append(f"*Waiting ({len(panel.queued)})*")
    for job in panel.queued[:ADMIN_LINES]:
        lines.append(f"{panel.positions.get(job.id, '·')}. {who(job)}")
    if len(panel.queued) > ADMIN_LINES:
        lines.append(f"… and {len(panel.queued) - ADMIN_LINES} more (`/sora queue`)")
    totals = ["*This month, per person*"] + [
        f"• <@{user}>: {videos} videos · {seconds} s" for user, videos, seconds in panel.totals[:30]
    ]
    if len(totals) == 1:
        totals.append("Nobody has made a video this month.")
    health = ["*Backends*"] + (panel.health or ["One backend (no pool configured)."])
    return [
        {"type": "divider"},
        {"type": "header", "text": _plain("Admin: the whole queue")},
        _section("\n".join(lines)),
        _section("\n".join(totals)),
        _section("\n".join(health)),
    ]


def home_view(page: HomePage) -> dict[str, Any]:
    """The person's Home tab."""
    new = _button("New video", HOME_NEW, "new", "primary")
    notices = "on" if page.notify else "off"
    toggle = _button("Turn off" if page.notify else "Turn on", HOME_NOTICES,
                     "off" if page.notify else "on")  # fmt: skip
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": _plain("Your Sora videos")},
        _section("Make a short video from a prompt, or remix one of yours.", new),
        _context(_usage(page)),
        _section(f"Mention me when a video of mine is done or failed: *{notices}*", toggle),
        {"type": "divider"},
    ]
    if not page.videos:
        blocks.append(_section("You have no videos yet. Try `/sora a corgi surfing at sunset`."))
    for video in page.videos:
        blocks += _video(video, page.workspace_url)
    blocks += _pager(page)
    if page.admin is not None:
        blocks += _admin(page.admin, page.user)
    return {"type": "home", "blocks": blocks[:VIEW_BLOCKS_MAX]}


def new_video_modal() -> dict[str, Any]:
    """The options form opened from Home: it asks where the video goes first."""
    view = ui.options_modal({})
    picker = {
        "type": "input",
        "block_id": WHERE[0],
        "label": _plain("Post it in"),
        "element": {
            "type": "conversations_select",
            "action_id": WHERE[1],
            "placeholder": _plain("A channel"),
            "filter": {"include": ["public", "private"], "exclude_bot_users": True},
        },
    }
    return {**view, "blocks": [picker, *view["blocks"]]}
