"""The Home tab: ``app_home_opened``, and the buttons on it.

Home buttons carry a job id and no conversation; intake checks that the presser may manage
the job. What a press has to say goes to the person's DM with the bot (they are on Home,
where an ephemeral message cannot be shown).
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack import blocks as ui
from bot.slack import home_blocks as home
from bot.slack.intake import Answer, Intake

log = logging.getLogger(__name__)


def _press(body: dict[str, Any]) -> tuple[str, Any]:
    action = (body.get("actions") or [{}])[0]
    return str((body.get("user") or {}).get("id") or ""), action.get("value")


async def _dm(client: AsyncWebClient, user: str, answer: Answer) -> None:
    try:
        await client.chat_postMessage(channel=user, **ui.message_args(answer.message))
    except SlackApiError as exc:
        log.warning("could not tell %s: %s", user, exc.response.get("error"))


class HomeTab:
    def __init__(self, intake: Intake) -> None:
        self.intake = intake

    async def on_opened(self, event: dict[str, Any]) -> None:
        if event.get("tab", "home") != "home":
            return  # the Messages tab: nothing to publish
        self.intake.home_opened(str(event.get("user") or ""))

    async def on_new(self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        if body.get("trigger_id"):
            form = self.intake.home_form()
            await client.views_open(trigger_id=body["trigger_id"], view=form.view)

    async def on_remix(self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        user, value = _press(body)
        outcome = await self.intake.home_remix(user=user, job_value=value)
        if isinstance(outcome, Answer):
            await _dm(client, user, outcome)
        elif outcome is not None and body.get("trigger_id"):
            await client.views_open(trigger_id=body["trigger_id"], view=outcome.view)

    async def on_remove(self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        user, value = _press(body)
        answer = await self.intake.home_remove(user=user, job_value=value)
        if answer is not None:
            await _dm(client, user, answer)

    async def on_notices(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        user, value = _press(body)
        await self.intake.home_notices(user=user, value=value)

    async def on_page(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        user, value = _press(body)
        self.intake.home_more(user=user, value=value)


def register(app: AsyncApp, *, intake: Intake) -> None:
    tab = HomeTab(intake)
    app.event("app_home_opened")(tab.on_opened)
    app.action(home.HOME_NEW)(tab.on_new)
    app.action(home.HOME_REMIX)(tab.on_remix)
    app.action(home.HOME_DELETE)(tab.on_remove)
    app.action(home.HOME_CANCEL)(tab.on_remove)
    app.action(home.HOME_NOTICES)(tab.on_notices)
    app.action(home.HOME_PAGE)(tab.on_page)
