"""Buttons on job cards (keyed by job id, so they work after a restart).

A button acts only on a job of the conversation it was pressed in (intake decides): a
forged or stale job id from elsewhere is ignored, exactly like an unknown one. Outside the
allow-list buttons do nothing, as reactions do; the person is told why.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack import blocks as ui
from bot.slack.intake import Answer, Intake
from bot.slack.listeners.common import send


def pressed(body: dict[str, Any]) -> tuple[str, str, Any] | None:
    """The channel, the person and the button's value of a press, or None."""
    action = (body.get("actions") or [{}])[0]
    channel = str(
        (body.get("channel") or {}).get("id")
        or (body.get("container") or {}).get("channel_id")
        or ""
    )
    user = str((body.get("user") or {}).get("id") or "")
    if not channel or not user:
        return None
    return channel, user, action.get("value")


class CardButtons:
    def __init__(self, intake: Intake) -> None:
        self.intake = intake

    async def on_remix(self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        found = pressed(body)
        if found is None:
            return
        channel, user, job_value = found
        outcome = await self.intake.remix_button(channel=channel, job_value=job_value)
        if isinstance(outcome, Answer):
            await send(client, outcome, user=user)
        elif outcome is not None:
            await client.views_open(trigger_id=body["trigger_id"], view=outcome.view)

    async def on_remove(self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        found = pressed(body)
        if found is None:
            return
        channel, user, job_value = found
        answer = await self.intake.remove_button(channel=channel, user=user, job_value=job_value)
        if answer is not None:
            await send(client, answer, user=user)


def register(app: AsyncApp, *, intake: Intake) -> None:
    buttons = CardButtons(intake)
    app.action(ui.ACTION_REMIX)(buttons.on_remix)
    app.action(ui.ACTION_DELETE)(buttons.on_remove)
    app.action(ui.ACTION_CANCEL)(buttons.on_remove)
