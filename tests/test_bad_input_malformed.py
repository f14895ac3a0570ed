"""Bad input, end to end: payloads Slack would never send (missing users, channels or
triggers; buttons with odd values; unknown actions, shortcuts, views, events and commands).
The machinery is in tests/badinput.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from badinput import OFF, OFF_HERE, Ctx, button, form, raw, run_group, slash

from bot.slack import blocks as ui
from bot.slack import home_blocks as home


async def _block_action_without_actions(c: Ctx) -> dict[str, Any]:
    payload: dict[str, Any] = c.fake.block_action(
        ui.ACTION_DELETE, "1", "U1", "C1", (await c.video()).card_ts or ""
    )
    payload["actions"] = []
    return payload


async def _unknown_event(c: Ctx) -> dict[str, Any]:
    payload: dict[str, Any] = c.fake.message_event("hi")
    payload["event"] = {"type": "emoji_changed", "subtype": "add", "name": "corgi"}
    return payload


async def _home_opened_by_nobody(c: Ctx) -> dict[str, Any]:
    payload: dict[str, Any] = c.fake.app_home_opened("U1")
    payload["event"].pop("user")
    return payload


async def _home_press_by_nobody(c: Ctx) -> dict[str, Any]:
    payload: dict[str, Any] = c.fake.home_action(home.HOME_DELETE, str((await c.video()).id))
    payload.pop("user")
    return payload


async def _no_event(c: Ctx) -> dict[str, Any]:
    payload: dict[str, Any] = c.fake.message_event("hi")
    payload.pop("event")
    return payload


async def _shortcut(
    c: Ctx, callback: str, message: dict[str, Any] | None, channel: str = "C1"
) -> dict[str, Any]:
    message = message or {"type": "message", "ts": "1000000000.000300", "text": ""}
    payload: dict[str, Any] = c.fake.message_shortcut(callback, message, channel=channel)
    return payload


async def _no_message_shortcut(c: Ctx) -> dict[str, Any]:
    payload = await _shortcut(c, ui.SHORTCUT_REMIX, None)
    payload.pop("message")
    payload.pop("message_ts")
    return payload


async def _unknown_view(c: Ctx) -> dict[str, Any]:
    view = {"id": "VUNKNOWN", "type": "modal", "callback_id": "nope", "blocks": []}
    payload: dict[str, Any] = c.fake.view_submission(view, "U1", form())
    return payload


async def _other_command(c: Ctx) -> dict[str, Any]:
    payload: dict[str, Any] = c.fake.slash_command("a cat", command="/other")
    return payload


REMIX_ON_VIDEO = "Use *Remix* on a video the bot posted"
MALFORMED = [
    slash("command-without-text", "", "sora_options", "modal", drop=("text",)),
    slash("command-without-trigger", "a cat without a trigger", where="job",
          prompt="a cat without a trigger", drop=("trigger_id",)),
    # No trigger, no modal can open: the help says how to use /sora instead.
    slash("command-without-trigger-blank", "", "Make short videos", drop=("trigger_id",)),
    slash("command-without-channel", "a cat from nowhere", "which channel", drop=("channel_id",)),
    slash("command-without-user", "a cat by nobody", None, "any", drop=("user_id",)),
    button("delete-non-numeric", ui.ACTION_DELETE, "abc"),
    button("delete-empty-value", ui.ACTION_DELETE, ""),
    button("delete-negative", ui.ACTION_DELETE, "-1"),
    button("delete-sql", ui.ACTION_DELETE, "1 OR 1=1"),
    button("delete-unknown-job", ui.ACTION_DELETE, "99999"),
    button("delete-unknown-message", ui.ACTION_DELETE, "99999", on="unknown"),
    button("cancel-unknown-job", ui.ACTION_CANCEL, "99999"),
    button("remix-unknown-job", ui.ACTION_REMIX, "99999"),
    button("remix-non-numeric", ui.ACTION_REMIX, "v1"),
    button("delete-20-digits", ui.ACTION_DELETE, "99999999999999999999"),
    button("delete-superscript", ui.ACTION_DELETE, "\u00b2"),
    button("unknown-action", "nope_button", "1"),
    raw("block-action-without-actions", "interactive", _block_action_without_actions),
    raw("remix-shortcut-on-person-message", "interactive",
        lambda c: _shortcut(c, ui.SHORTCUT_REMIX, None), REMIX_ON_VIDEO),
    raw("remix-shortcut-without-message", "interactive", _no_message_shortcut, REMIX_ON_VIDEO),
    raw("make-shortcut-on-empty-message", "interactive",
        lambda c: _shortcut(c, ui.SHORTCUT_FROM_MESSAGE, None), "sora_options", "modal"),
    raw("make-shortcut-off-channel", "interactive",
        lambda c: _shortcut(c, ui.SHORTCUT_FROM_MESSAGE, None, OFF), OFF_HERE),
    raw("unknown-shortcut", "interactive", lambda c: _shortcut(c, "nope", None)),
    raw("unknown-view", "interactive", _unknown_view),
    raw("unknown-event-type", "events_api", _unknown_event),
    raw("event-envelope-without-event", "events_api", _no_event),
    raw("other-slash-command", "slash_commands", _other_command),
    raw("home-opened-without-user", "events_api", _home_opened_by_nobody),
    raw("home-messages-tab", "events_api", lambda c: _soon(c.fake.app_home_opened(tab="messages"))),
    raw("home-delete-without-user", "interactive", _home_press_by_nobody),
]  # fmt: skip


async def _soon(value: dict[str, Any]) -> dict[str, Any]:
    return value


async def test_the_malformed_corpus(tmp_path: Path) -> None:
    await run_group("malformed", MALFORMED, tmp_path)
