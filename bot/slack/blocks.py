"""Every message, modal and button the bot shows in Slack. Pure: no I/O.

Each builder returns plain dicts (Block Kit JSON) with a plain-text fallback, inside Slack's
limits (3,000 characters per section text, 150 per button or header, 100 blocks per
message or view). User text is escaped (``&``, ``<``, ``>``) before it enters mrkdwn.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bot.jobs.outcomes import PROVIDER_KEEPS
from bot.sizes import DEFAULT_SIZE, LANDSCAPE, PORTRAIT
from bot.slack.parse import EXAMPLE
from bot.store import Job, JobState

# Callback ids of the public contract (manifest.yml) and the bot's own ids.
SHORTCUT_FROM_MESSAGE = "sora_from_message"
SHORTCUT_REMIX = "sora_remix"
VIEW_OPTIONS = "sora_options"
VIEW_REMIX = "sora_remix_modal"
ACTION_REMIX = "sora_remix_button"
ACTION_DELETE = "sora_delete_button"
ACTION_CANCEL = "sora_cancel_button"
# Input blocks of the modals: (block_id, action_id).
PROMPT = ("prompt", "prompt_input")
SHAPE = ("shape", "shape_input")
SECONDS = ("seconds", "seconds_input")
VARIANTS = ("variants", "variants_input")
FIRST_FRAME = ("first_frame", "first_frame_input")
CHANGE = ("change", "change_input")

SECTION_MAX = 3000
PROMPT_SHOWN = 2500
MODAL_PROMPT_MAX = 3000  # the most a plain_text_input may hold
BAR_CELLS = 12

Blocks = list[dict[str, Any]]


@dataclass(frozen=True)
class Message:
    text: str  # the plain-text fallback (notifications, screen readers)
    blocks: Blocks


def message_args(message: Message, **extra: Any) -> dict[str, Any]:
    """A Message as keyword arguments for ack(), respond() or chat.* calls."""
    return {"text": message.text, "blocks": message.blocks, **extra}


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, SECTION_MAX)}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(text, SECTION_MAX)}]}


def _button(text: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": text, "emoji": True},
        "action_id": action_id,
        "value": value,
    }
    if style:
        button["style"] = style
    return button


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def quote(prompt: str) -> str:
    """A prompt as a mrkdwn block quote, escaped and shortened for display."""
    lines = escape(clip(prompt, PROMPT_SHOWN)).splitlines() or [""]
    return "\n".join(f"> {line}" for line in lines)


def settings_line(job: Job) -> str:
    shape = "landscape" if _wide(job.size) else "portrait"
    parts = [job.size, shape, f"{job.seconds} s"]
    if job.version_label:
        parts.append(job.version_label)
    return " · ".join(parts)


def _wide(size: str) -> bool:
    width, _, height = size.partition("x")
    return width.isdigit() and height.isdigit() and int(width) > int(height)


def progress_bar(percent: int) -> str:
    percent = max(0, min(100, percent))
    filled = round(BAR_CELLS * percent / 100)
    return f"`{'▓' * filled}{'░' * (BAR_CELLS - filled)}` {percent}%"


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


EXACT_PLACES = 10  # places shown exactly; further back, a rounded figure (place_in_line)


def shown_place(position: int) -> int:
    """The figure a card shows for a place in line: exact up to EXACT_PLACES, then rounded
    to the nearest 10 (below 100), 100 (below 1,000) or 500, so that one job leaving a long
    line changes a few far-back cards (those crossing a boundary), not all of them."""
    if position <= EXACT_PLACES:
        return max(position, 1)
    step = 10 if position < 100 else 100 if position < 1000 else 500
    return max(EXACT_PLACES, (position + step // 2) // step * step)


def place_in_line(position: int | None) -> str:
    """Every queued card says "in line", with its place when it is known."""
    if position is None:
        return "waiting in line"
    if position <= 1:
        return "next in line"
    if position <= EXACT_PLACES:
        return f"{ordinal(position)} in line"
    return f"about {shown_place(position):,} in line"


def status_line(job: Job, position: int | None) -> str:
    state = job.state
    if state == JobState.QUEUED:
        return f":hourglass_flowing_sand: Queued: {place_in_line(position)}"
    if state == JobState.SUBMITTING:
        return ":rocket: Starting…"
    if state == JobState.RUNNING:
        return f":film_frames: Making the video {progress_bar(job.progress)}"
    if state in (JobState.DOWNLOADING, JobState.UPLOADING):
        return ":inbox_tray: Finishing: the video is on its way to this thread"
    if state == JobState.DELIVERED:
        return f":white_check_mark: Done: *{job.version_label or 'v1'}* is in the thread"
    if state == JobState.FAILED:
        icon = ":no_entry:" if job.error_code in ("moderation", "input_moderation") else ":warning:"
        return f"{icon} Failed: {escape(job.error_message or 'no reason given')}"
    if state == JobState.CANCELED:
        by = f" by <@{job.deleted_by}>" if job.deleted_by else ""
        return f":no_entry_sign: Canceled{by}"
    by = f" by <@{job.deleted_by}>" if job.deleted_by else ""
    kept = ""
    if job.error_code == PROVIDER_KEEPS:
        kept = " (the video service keeps its copy until it expires, within 24 hours)"
    return f":wastebasket: Deleted{by}{kept}"


MOVED_NOTE = (
    ":twisted_rightwards_arrows: Moved to another region, started again "
    "(the video service region making it went out of service)"
)


def job_card(
    job: Job, position: int | None = None, parent_label: str | None = None, *, quiet: bool = False
) -> Message:
    """The card a job lives in: who asked, what, the settings, and where it stands.
    ``quiet``: the card's first post, which names nobody (a new message that mentions the
    requester would notify them; the delivery does that, once: bot.slack.notices). Edits
    do not notify, so every later version names them."""
    origin = f", a remix of {parent_label}" if parent_label else ""
    who = "*New request*:" if quiet else f"*<@{job.requester_id}>*"
    header = f":clapper: {who} asked for a video{origin}"
    blocks: Blocks = [
        _mrkdwn(f"{header}\n{quote(job.prompt)}"),
        _context(settings_line(job)),
        _mrkdwn(status_line(job, position)),
    ]
    if job.moved_from is not None and job.state != JobState.FAILED:
        blocks.append(_context(MOVED_NOTE))
    buttons = []
    if job.state in (JobState.QUEUED, JobState.SUBMITTING, JobState.RUNNING):
        buttons.append(_button("Cancel", ACTION_CANCEL, str(job.id)))
    elif job.state == JobState.DELIVERED:
        buttons.append(_button("Remix", ACTION_REMIX, str(job.id), "primary"))
        buttons.append(_button("Delete", ACTION_DELETE, str(job.id), "danger"))
    if buttons:
        blocks.append({"type": "actions", "block_id": f"job-{job.id}", "elements": buttons})
    status = status_line(job, position).split(" ", 1)[-1]
    whom = "" if quiet else f" for <@{job.requester_id}>"
    text = clip(f"Video{whom}: {status}: {escape(job.prompt)}", 3000)
    return Message(text, blocks)


def upload_comment(job: Job, parent_label: str | None = None, *, mention: str | None = None) -> str:
    """The initial comment of the uploaded MP4 (plain text with mrkdwn); ``mention``: the
    user to notify (bot.slack.notices), named first."""
    origin = f" · remix of {parent_label}" if parent_label else ""
    ping = f"<@{mention}> your video is ready: " if mention else ""
    return clip(
        f"{ping}*{job.version_label or 'v1'}* · {job.size} · {job.seconds} s{origin} · "
        f"`{job.video_id}`\nReply `remix: what to change` in this thread for the next version.",
        3000,
    )


def failure_notice(job: Job) -> Message:
    """The one reply that tells a requester their video failed (bot.slack.notices)."""
    label = job.version_label or "your video"
    reason = escape(clip(job.error_message or "no reason given", 500))
    text = f"<@{job.requester_id}> {label} failed: {reason}"
    return Message(clip(text, 3000), [_mrkdwn(f":warning: {text}")])


def video_title(job: Job) -> str:
    return clip(f"{job.version_label or 'v1'}: {job.prompt}", 250)


def error_reply(problem: str, example: str = EXAMPLE) -> Message:
    text = f":warning: {problem}\nFor example: `{example}`"
    return Message(clip(text, 3000), [_mrkdwn(text)])


def notice(text: str) -> Message:
    return Message(clip(text, 3000), [_mrkdwn(text)])


def help_message() -> Message:
    text = "\n".join(
        [
            "*Make short videos with Sora from Slack*",
            f"• `{EXAMPLE}`: a video from a prompt. Options: `--landscape`, `--portrait` "
            "(the default), `--size WxH`, `--seconds 4|8|12` (4 is the default), "
            "`--variants N` (N videos to choose from).",
            "• `/sora` alone opens a form.",
            "• Reply `remix: what to change` in a video's thread for the next version; "
            "`remix v1: ...` starts from an earlier one.",
            "• *Make a video* on any message's `⋮` menu turns it (and its image) into a video.",
            "• React with :wastebasket: on your video or its card to delete it.",
            "• `/sora list` your videos · `/sora queue` what is running · "
            "`/sora usage` seconds and cost this month",
        ]
    )
    return Message("How to use /sora", [_mrkdwn(text)])


def invite_reply(command_text: str) -> Message:
    text = (
        ":wave: I can't post in this channel yet. Invite me with `/invite @Sora` and run the "
        f"command again:\n`/sora {escape(clip(command_text, 2500))}`"
    )
    return Message(clip(text, 3000), [_mrkdwn(text)])


def options_modal(
    metadata: dict[str, Any],
    *,
    prompt: str = "",
    size: str = DEFAULT_SIZE,
    seconds: int = 4,
    image_name: str | None = None,
    cost: dict[str, Any] | None = None,
    max_variants: int = 1,
) -> dict[str, Any]:
    """The options form: prompt, orientation, duration (and the first-frame image, if any).
    Orientation and duration dispatch their changes (block_actions), so the ``cost`` line
    (bot.slack.spend_blocks) can follow them."""
    shapes = [("portrait", f"Portrait ({PORTRAIT})"), ("landscape", f"Landscape ({LANDSCAPE})")]
    options = [{"text": _plain(label), "value": value} for value, label in shapes]
    initial_shape = options[1] if _wide(size) else options[0]
    durations = [{"text": _plain(f"{n} seconds"), "value": str(n)} for n in (4, 8, 12)]
    initial_duration = next((d for d in durations if d["value"] == str(seconds)), durations[0])
    prompt_input: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": PROMPT[1],
        "multiline": True,
        "max_length": MODAL_PROMPT_MAX,
        "placeholder": _plain("A corgi surfing at sunset, cinematic"),
    }
    if prompt:
        prompt_input["initial_value"] = clip(prompt, MODAL_PROMPT_MAX)
    blocks: Blocks = [
        {"type": "input", "block_id": PROMPT[0], "label": _plain("What should the video show?"),
         "element": prompt_input},
        {"type": "input", "block_id": SHAPE[0], "label": _plain("Orientation"),
         "dispatch_action": True,
         "element": {"type": "radio_buttons", "action_id": SHAPE[1], "options": options,
                     "initial_option": initial_shape}},
        {"type": "input", "block_id": SECONDS[0], "label": _plain("Duration"),
         "dispatch_action": True,
         "element": {"type": "static_select", "action_id": SECONDS[1], "options": durations,
                     "initial_option": initial_duration}},
    ]  # fmt: skip
    if image_name:
        use = {"text": _plain(f"Start from the image ({clip(image_name, 60)})"), "value": "yes"}
        blocks.append(
            {"type": "input", "block_id": FIRST_FRAME[0], "optional": True,
             "label": _plain("First frame"),
             "element": {"type": "checkboxes", "action_id": FIRST_FRAME[1], "options": [use],
                         "initial_options": [use]}}
        )  # fmt: skip
    if max_variants > 1:
        counts = [
            {"text": _plain("1 video" if n == 1 else f"{n} variants"), "value": str(n)}
            for n in range(1, max_variants + 1)
        ]
        blocks.append(
            {"type": "input", "block_id": VARIANTS[0], "label": _plain("Variants"),
             "dispatch_action": True, "optional": True,
             "element": {"type": "static_select", "action_id": VARIANTS[1], "options": counts,
                         "initial_option": counts[0]}}
        )  # fmt: skip
    if cost is not None:
        blocks.append(cost)
    return {
        "type": "modal",
        "callback_id": VIEW_OPTIONS,
        "title": _plain("Make a video"),
        "submit": _plain("Make it"),
        "close": _plain("Cancel"),
        "private_metadata": json.dumps(metadata, separators=(",", ":")),
        "blocks": blocks,
    }


def remix_modal(metadata: dict[str, Any], label: str) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": VIEW_REMIX,
        "title": _plain(clip(f"Remix {label}", 24)),
        "submit": _plain("Remix"),
        "close": _plain("Cancel"),
        "private_metadata": json.dumps(metadata, separators=(",", ":")),
        "blocks": [
            {"type": "input", "block_id": CHANGE[0], "label": _plain("What should change?"),
             "element": {"type": "plain_text_input", "action_id": CHANGE[1], "multiline": True,
                         "max_length": MODAL_PROMPT_MAX,
                         "placeholder": _plain("Make it night time")}},
        ],
    }  # fmt: skip
