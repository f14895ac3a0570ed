"""The "Keep vA" buttons of a variants card: keep one, delete the others."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack import variant_blocks
from bot.slack.intake import Intake
from bot.slack.listeners.actions import pressed
from bot.slack.listeners.common import send


class KeepButton:
    def __init__(self, intake: Intake) -> None:
        self.intake = intake

    async def on_keep(self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        found = pressed(body)
        if found is None:
            return
        channel, user, job_value = found
        answer = await self.intake.keep_button(channel=channel, user=user, job_value=job_value)
        if answer is not None:
            await send(client, answer, user=user)


def register(app: AsyncApp, *, intake: Intake) -> None:
    app.action(variant_blocks.ACTION_KEEP)(KeepButton(intake).on_keep)
