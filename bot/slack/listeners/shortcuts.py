"""Message shortcuts: "Make a video" from any message, and "Remix" on a bot video."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack import blocks as ui
from bot.slack.intake import Answer, Form, Intake
from bot.slack.listeners.common import send


class Shortcuts:
    def __init__(self, intake: Intake) -> None:
        self.intake = intake

    async def on_make_video(
        self, ack: AsyncAck, shortcut: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        channel, user = _where(shortcut)
        message = shortcut.get("message") or {}
        outcome = await self.intake.video_form(channel=channel, message=message, user=user)
        await _open(client, shortcut, outcome, user)

    async def on_remix(
        self, ack: AsyncAck, shortcut: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        channel, user = _where(shortcut)
        ts = str((shortcut.get("message") or {}).get("ts") or shortcut.get("message_ts") or "")
        outcome = await self.intake.remix_form(channel=channel, message_ts=ts)
        await _open(client, shortcut, outcome, user)


def _where(shortcut: dict[str, Any]) -> tuple[str, str]:
    channel = str((shortcut.get("channel") or {}).get("id") or "")
    return channel, str((shortcut.get("user") or {}).get("id") or "")


async def _open(
    client: AsyncWebClient, shortcut: dict[str, Any], outcome: Form | Answer, user: str
) -> None:
    if isinstance(outcome, Answer):
        await send(client, outcome, user=user)
    else:
        await client.views_open(trigger_id=shortcut["trigger_id"], view=outcome.view)


def register(app: AsyncApp, *, intake: Intake) -> None:
    shortcuts = Shortcuts(intake)
    app.shortcut(ui.SHORTCUT_FROM_MESSAGE)(shortcuts.on_make_video)
    app.shortcut(ui.SHORTCUT_REMIX)(shortcuts.on_remix)
