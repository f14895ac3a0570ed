"""Modal submissions: the options form and the remix form."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack import blocks as ui
from bot.slack.home_blocks import WHERE
from bot.slack.intake import Ask, Intake
from bot.slack.listeners.common import metadata, selected, send, value
from bot.slack.parse import FormErrors, change_problem, parse_form, small_int

NO_CHANNEL = "Open the form again from a channel."
FIELDS = {"prompt": ui.PROMPT[0], "shape": ui.SHAPE[0], "seconds": ui.SECONDS[0]}


class Views:
    def __init__(self, intake: Intake) -> None:
        self.intake = intake

    async def on_options(
        self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient
    ) -> None:
        prompt = str(value(view, ui.PROMPT).get("value") or "")
        meta = metadata(view)
        # From Home the form asks where the video goes (home_blocks.WHERE).
        channel = str(meta.get("c") or value(view, WHERE).get("selected_conversation") or "")
        shape, seconds = selected(view, ui.SHAPE), selected(view, ui.SECONDS)
        parsed = parse_form(prompt, shape, None if seconds is None else str(seconds))
        if isinstance(parsed, FormErrors):
            errors = {FIELDS[field]: error for field, error in parsed.fields.items()}
            await ack(response_action="errors", errors=errors)
            return
        if not channel:
            await ack(response_action="errors", errors={ui.PROMPT[0]: NO_CHANNEL})
            return
        chosen = selected(view, ui.VARIANTS)
        variants = 1 if chosen is None else small_int(chosen)
        if variants is None or variants < 1:
            await ack(response_action="errors", errors={ui.VARIANTS[0]: "Pick how many videos."})
            return
        await ack()
        user = str((body.get("user") or {}).get("id") or "")
        if not user:
            return
        use_image = bool(value(view, ui.FIRST_FRAME).get("selected_options"))
        answer = await self.intake.start(
            Ask(
                team_id=str((body.get("team") or {}).get("id") or ""),
                channel_id=channel,
                user_id=user,
                prompt=parsed.prompt,
                size=parsed.size,
                seconds=parsed.seconds,
                variants=variants,
                thread_ts=meta.get("t"),
                dedupe_key=f"view:{view.get('id')}",
            ),
            image_file=str(meta["f"]) if use_image and meta.get("f") else None,
        )
        if answer is not None:
            await send(client, answer, user=user)

    async def on_remix(
        self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient
    ) -> None:
        change = str(value(view, ui.CHANGE).get("value") or "")
        problem = change_problem(change)
        if problem:
            await ack(response_action="errors", errors={ui.CHANGE[0]: problem})
            return
        await ack()
        user = str((body.get("user") or {}).get("id") or "")
        answer = await self.intake.remix_submitted(
            job_value=metadata(view).get("job"),
            user=user,
            change=change,
            key=f"view:{view.get('id')}",
        )
        if answer is not None:
            await send(client, answer, user=user)


def register(app: AsyncApp, *, intake: Intake) -> None:
    views = Views(intake)
    app.view(ui.VIEW_OPTIONS)(views.on_options)
    app.view(ui.VIEW_REMIX)(views.on_remix)
