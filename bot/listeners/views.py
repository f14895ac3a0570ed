"""Modal submissions: the options form and the remix form."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from bot import slack_ui
from bot.commands import LANDSCAPE, PORTRAIT, is_blank
from bot.intake import Ask, Refused
from bot.listeners.common import metadata, say_in_thread, tell, value
from bot.listeners.remix import start_remix
from bot.services import Services
from bot.sora import SECONDS


def register(app: AsyncApp, services: Services) -> None:
    @app.view(slack_ui.VIEW_OPTIONS)
    async def options(
        ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient
    ) -> None:
        prompt = str(value(view, slack_ui.PROMPT).get("value") or "")
        if is_blank(prompt):
            await ack(
                response_action="errors",
                errors={slack_ui.PROMPT[0]: "Say what the video should show."},
            )
            return
        shape = (value(view, slack_ui.SHAPE).get("selected_option") or {}).get("value")
        seconds_raw = str((value(view, slack_ui.SECONDS).get("selected_option") or {}).get("value"))
        seconds = int(seconds_raw) if seconds_raw.isdigit() else 4
        if seconds not in SECONDS:
            await ack(response_action="errors", errors={slack_ui.SECONDS[0]: "Pick 4, 8 or 12."})
            return
        meta = metadata(view)
        channel = str(meta.get("c") or "")
        user = str((body.get("user") or {}).get("id") or "")
        if not channel:
            await ack(
                response_action="errors",
                errors={slack_ui.PROMPT[0]: "Open the form again from a channel."},
            )
            return
        use_image = bool(value(view, slack_ui.FIRST_FRAME).get("selected_options"))
        await ack()
        ask = Ask(
            team_id=str((body.get("team") or {}).get("id") or ""),
            channel_id=channel,
            user_id=user,
            prompt=prompt,
            size=LANDSCAPE if shape == "landscape" else PORTRAIT,
            seconds=seconds,
            thread_ts=meta.get("t"),
            dedupe_key=f"view:{view.get('id')}",
        )
        if use_image and meta.get("f"):
            refused = await services.intake.check(user, channel, seconds)
            with_image = refused or await services.images.attach(ask, str(meta["f"]))
            if isinstance(with_image, Refused):
                await tell(client, channel, user, with_image.message, meta.get("t"))
                return
            ask = with_image
        result = await services.intake.start(ask)
        if isinstance(result, Refused):
            if ask.image_path:  # fitted for a job that will not be: not kept
                await asyncio.to_thread(Path(ask.image_path).unlink, True)
            await tell(client, channel, user, result.message, meta.get("t"))

    @app.view(slack_ui.VIEW_REMIX)
    async def remix(
        ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient
    ) -> None:
        change = str(value(view, slack_ui.CHANGE).get("value") or "")
        if is_blank(change):
            await ack(
                response_action="errors", errors={slack_ui.CHANGE[0]: "Say what should change."}
            )
            return
        await ack()
        meta = metadata(view)
        user = str((body.get("user") or {}).get("id") or "")
        job_id = str(meta.get("job"))
        parent = await services.store.get_job(int(job_id)) if job_id.isdigit() else None
        if parent is None:
            return
        thread = parent.thread_ts or parent.card_ts or ""
        problem = await start_remix(services, parent, change, user, f"view:{view.get('id')}")
        if problem is not None:
            if isinstance(problem, Refused):
                await tell(client, parent.channel_id, user, problem.message, thread)
            else:
                await say_in_thread(client, parent.channel_id, thread, problem)
