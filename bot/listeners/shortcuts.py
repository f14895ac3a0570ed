"""Message shortcuts: "Make a video" from any message, and "Remix" on a bot video."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from bot import slack_ui
from bot.listeners.common import tell
from bot.media import first_image, mrkdwn_to_plain
from bot.services import Services


def register(app: AsyncApp, services: Services) -> None:
    @app.shortcut(slack_ui.SHORTCUT_FROM_MESSAGE)
    async def from_message(ack: AsyncAck, shortcut: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        channel = str((shortcut.get("channel") or {}).get("id") or "")
        user = str((shortcut.get("user") or {}).get("id") or "")
        message = shortcut.get("message") or {}
        if not services.intake.allowed(channel):
            refused = await services.intake.check(user, channel, 4)
            if refused is not None:
                await tell(client, channel, user, refused.message)
            return
        meta: dict[str, Any] = {"c": channel, "t": message.get("thread_ts") or message.get("ts")}
        size = "720x1280"
        image = first_image(message.get("files") or [])
        if image is not None:
            meta.update(f=image.file_id, n=image.name[:60])
            if image.width and image.height and image.width > image.height:
                size = "1280x720"
        await client.views_open(
            trigger_id=shortcut["trigger_id"],
            view=slack_ui.options_modal(
                meta,
                prompt=mrkdwn_to_plain(str(message.get("text") or "")),
                size=size,
                image_name=image.name if image else None,
            ),
        )

    @app.shortcut(slack_ui.SHORTCUT_REMIX)
    async def remix(ack: AsyncAck, shortcut: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        channel = str((shortcut.get("channel") or {}).get("id") or "")
        user = str((shortcut.get("user") or {}).get("id") or "")
        ts = str((shortcut.get("message") or {}).get("ts") or shortcut.get("message_ts") or "")
        job = await services.store.find_by_message(channel, ts)
        if job is None:
            await tell(client, channel, user, slack_ui.notice(
                "Use *Remix* on a video the bot posted, or on its card."
            ))  # fmt: skip
            return
        await client.views_open(
            trigger_id=shortcut["trigger_id"],
            view=slack_ui.remix_modal({"job": job.id}, job.version_label or "v1"),
        )
