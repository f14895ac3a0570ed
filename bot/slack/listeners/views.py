"""Modal submissions: the options form and the remix form."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack import blocks as ui
from bot.slack.intake import Ask, Refused
from bot.slack.listeners.common import metadata, say_in_thread, tell, value
from bot.slack.listeners.remix import start_remix
from bot.slack.parse import LANDSCAPE, PORTRAIT, is_blank, small_int
from bot.slack.services import Services
from bot.sora import SECONDS
from bot.sora.models import PROMPT_MAX

TOO_LONG = f"That is too long: the limit is {PROMPT_MAX:,} characters."
NO_CHANNEL = "Open the form again from a channel."


def register(app: AsyncApp, services: Services) -> None:
    @app.view(ui.VIEW_OPTIONS)
    async def options(
        ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient
    ) -> None:
        prompt = str(value(view, ui.PROMPT).get("value") or "")
        meta = metadata(view)
        channel = str(meta.get("c") or "")
        errors = _problems(view, prompt)
        if not errors and not channel:
            errors[ui.PROMPT[0]] = NO_CHANNEL
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        await ack()
        user = str((body.get("user") or {}).get("id") or "")
        if not user:
            return
        seconds = small_int(_selected(view, ui.SECONDS)) or 4
        shape = _selected(view, ui.SHAPE)
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
        use_image = bool(value(view, ui.FIRST_FRAME).get("selected_options"))
        if use_image and meta.get("f"):
            refused = await services.intake.check(user, channel, seconds)
            with_image = refused or await services.images.attach(ask, str(meta["f"]))
            if isinstance(with_image, Refused):
                await tell(client, channel, user, with_image.message, meta.get("t"))
                return
            ask = with_image
        result = await services.intake.start(ask)
        unused = isinstance(result, Refused) or result.input_image_path != ask.image_path
        if ask.image_path and unused:  # refused, or a duplicate: fitted for no job
            await asyncio.to_thread(Path(ask.image_path).unlink, True)
        if isinstance(result, Refused):
            await tell(client, channel, user, result.message, meta.get("t"))

    @app.view(ui.VIEW_REMIX)
    async def remix(
        ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient
    ) -> None:
        change = str(value(view, ui.CHANGE).get("value") or "")
        problem = None
        if is_blank(change):
            problem = "Say what should change."
        elif len(change) > PROMPT_MAX:
            problem = TOO_LONG
        if problem:
            await ack(response_action="errors", errors={ui.CHANGE[0]: problem})
            return
        await ack()
        meta = metadata(view)
        user = str((body.get("user") or {}).get("id") or "")
        job_id = small_int(meta.get("job"))
        parent = await services.store.get_job(job_id) if job_id is not None else None
        if parent is None or not user:
            return
        thread = parent.thread_ts or parent.card_ts or ""
        said = await start_remix(services, parent, change, user, f"view:{view.get('id')}")
        if isinstance(said, Refused):
            await tell(client, parent.channel_id, user, said.message, thread)
        elif said is not None:
            await say_in_thread(client, parent.channel_id, thread, said)


def _selected(view: dict[str, Any], block: tuple[str, str]) -> Any:
    return (value(view, block).get("selected_option") or {}).get("value")


def _problems(view: dict[str, Any], prompt: str) -> dict[str, str]:
    """Field errors of the options form; a value the form cannot offer is refused, never
    silently replaced by a default."""
    errors: dict[str, str] = {}
    if is_blank(prompt):
        errors[ui.PROMPT[0]] = "Say what the video should show."
    elif len(prompt) > PROMPT_MAX:
        errors[ui.PROMPT[0]] = TOO_LONG
    shape = _selected(view, ui.SHAPE)
    if shape is not None and shape not in ("portrait", "landscape"):
        errors[ui.SHAPE[0]] = "Pick an orientation: portrait or landscape."
    seconds = _selected(view, ui.SECONDS)
    if seconds is not None and small_int(seconds) not in SECONDS:
        errors[ui.SECONDS[0]] = "Pick 4, 8 or 12."
    return errors
