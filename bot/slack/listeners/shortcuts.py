"""Message shortcuts: "Make a video" from any message, and "Remix" on a bot video."""

from __future__ import annotations

import asyncio
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack import blocks as ui
from bot.slack.files import SlackImage, first_image, mrkdwn_to_plain
from bot.slack.listeners.common import tell
from bot.slack.services import Services


def register(app: AsyncApp, services: Services) -> None:
    @app.shortcut(ui.SHORTCUT_FROM_MESSAGE)
    async def from_message(ack: AsyncAck, shortcut: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        channel = str((shortcut.get("channel") or {}).get("id") or "")
        user = str((shortcut.get("user") or {}).get("id") or "")
        message = shortcut.get("message") or {}
        refused = services.intake.not_here(channel)
        if refused is not None:
            await tell(client, channel, user, refused.message)
            return
        meta: dict[str, Any] = {"c": channel, "t": message.get("thread_ts") or message.get("ts")}
        size = "720x1280"
        image = first_image(message.get("files") or [])
        if image is not None and not (image.width and image.height):
            image = await _described(client, image)
        if image is not None:
            meta.update(f=image.file_id, n=image.name[:60])
            if image.width and image.height and image.width > image.height:
                size = "1280x720"
        await client.views_open(
            trigger_id=shortcut["trigger_id"],
            view=ui.options_modal(
                meta,
                prompt=mrkdwn_to_plain(str(message.get("text") or "")),
                size=size,
                image_name=image.name if image else None,
            ),
        )

    @app.shortcut(ui.SHORTCUT_REMIX)
    async def remix(ack: AsyncAck, shortcut: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        channel = str((shortcut.get("channel") or {}).get("id") or "")
        user = str((shortcut.get("user") or {}).get("id") or "")
        ts = str((shortcut.get("message") or {}).get("ts") or shortcut.get("message_ts") or "")
        refused = services.intake.not_here(channel)
        if refused is not None:
            await tell(client, channel, user, refused.message)
            return
        job = await services.store.find_by_message(channel, ts)
        if job is None:
            await tell(client, channel, user, ui.notice(
                "Use *Remix* on a video the bot posted, or on its card."
            ))  # fmt: skip
            return
        await client.views_open(
            trigger_id=shortcut["trigger_id"],
            view=ui.remix_modal({"job": job.id}, job.version_label or "v1"),
        )


async def _described(client: AsyncWebClient, image: SlackImage) -> SlackImage | None:
    """A file the message shows without its size (a stub): ask files.info, briefly (the
    trigger expires in 3 s), for its type and size. On any trouble, keep what we have:
    the submission says what is wrong with the file."""
    try:
        async with asyncio.timeout(1.5):
            info = (await client.files_info(file=image.file_id)).get("file") or {}
    except (SlackApiError, TimeoutError):
        return image
    return first_image([info]) if isinstance(info, dict) and info.get("id") else image
