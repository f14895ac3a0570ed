"""Cost before spend: the options form's cost line follows its choices (block_actions from
the modal, then views.update), and the Confirm / Cancel buttons of a held request."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack import blocks as ui
from bot.slack import spend_blocks
from bot.slack.form_updates import FormUpdates
from bot.slack.intake import Answer, Intake
from bot.slack.listeners.actions import pressed
from bot.slack.listeners.common import selected, send

log = logging.getLogger(__name__)


class SpendListeners:
    def __init__(self, intake: Intake) -> None:
        self.intake = intake
        self.forms: FormUpdates | None = None  # made with the first request's client

    async def on_choice(self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        """Orientation or duration changed in the options form: show the new cost."""
        await ack()
        view = body.get("view") or {}
        user = str((body.get("user") or {}).get("id") or "")
        if not user or not view.get("id") or view.get("callback_id") != ui.VIEW_OPTIONS:
            return
        fresh = await self.intake.priced_form(
            view=view,
            user=user,
            seconds=selected(view, ui.SECONDS),
            variants=selected(view, ui.VARIANTS) or 1,
        )
        action = (body.get("actions") or [{}])[0]
        try:
            action_ts = float(action.get("action_ts") or 0)
        except (TypeError, ValueError):
            action_ts = 0.0
        await self._forms(client).show(
            view_id=str(view["id"]), view_hash=view.get("hash"), action_ts=action_ts, view=fresh
        )

    def _forms(self, client: AsyncWebClient) -> FormUpdates:
        if self.forms is None:
            self.forms = FormUpdates(client)
        return self.forms

    async def on_confirm(
        self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond
    ) -> None:
        await ack()
        found = pressed(body)
        if found is None:
            return
        channel, user, key = found
        answer = await self.intake.confirm(user=user, key=key, channel=channel)
        await _reply(body, client, respond, answer, user)

    async def on_decline(
        self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond
    ) -> None:
        await ack()
        found = pressed(body)
        if found is None:
            return
        channel, user, key = found
        answer = await self.intake.decline(user=user, key=key, channel=channel)
        await _reply(body, client, respond, answer, user)


async def _reply(
    body: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond, answer: Answer, user: str
) -> None:
    """In place of the question (its buttons cannot be pressed again), else privately."""
    if body.get("response_url"):
        await respond(**ui.message_args(answer.message), replace_original=True)
    else:
        await send(client, answer, user=user)


def register(app: AsyncApp, *, intake: Intake) -> None:
    listeners = SpendListeners(intake)
    app.action(ui.SHAPE[1])(listeners.on_choice)
    app.action(ui.SECONDS[1])(listeners.on_choice)
    app.action(ui.VARIANTS[1])(listeners.on_choice)
    app.action(spend_blocks.ACTION_CONFIRM)(listeners.on_confirm)
    app.action(spend_blocks.ACTION_DECLINE)(listeners.on_decline)
