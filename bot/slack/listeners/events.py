"""Events: ``remix`` replies in video threads, and delete reactions.

Both listeners always match their event type (Socket Mode acks only what a listener
handled); everything not meant for the bot is ignored inside.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.intake import Intake
from bot.slack.listeners.common import send
from bot.slack.parse import parse_remix

log = logging.getLogger(__name__)
REPLY_SUBTYPES = (None, "thread_broadcast", "file_share")


class Events:
    def __init__(self, intake: Intake) -> None:
        self.intake = intake

    async def on_message(
        self, body: dict[str, Any], event: dict[str, Any], client: AsyncWebClient
    ) -> None:
        if event.get("bot_id") or event.get("subtype") not in REPLY_SUBTYPES:
            return  # bots, edits, deletions, joins...: acked and ignored
        thread, ts = event.get("thread_ts"), event.get("ts")
        remix = parse_remix(str(event.get("text") or ""))
        if not thread or thread == ts or remix is None:
            return
        key = f"event:{body.get('event_id') or ts}"
        if not await self.intake.first_delivery(key):
            return
        channel, user = str(event.get("channel") or ""), str(event.get("user") or "")
        if not channel or not user:
            return  # nobody to answer, nowhere to answer
        answer = await self.intake.remix_reply(
            channel=channel,
            thread=str(thread),
            user=user,
            remix=remix,
            key=f"event:{body.get('event_id') or thread}",
        )
        if answer is not None:
            await send(client, answer, user=user)

    async def on_reaction(
        self, body: dict[str, Any], event: dict[str, Any], client: AsyncWebClient
    ) -> None:
        item = event.get("item") or {}
        if item.get("type") != "message":
            return
        user = str(event.get("user") or "")
        answer = await self.intake.remove_reaction(
            channel=str(item.get("channel") or ""),
            ts=str(item.get("ts") or ""),
            user=user,
            reaction=str(event.get("reaction") or "").split("::", 1)[0].lower(),
            key=f"event:{body.get('event_id')}",
        )
        if answer is not None:
            await send(client, answer, user=user)


def register(app: AsyncApp, *, intake: Intake) -> None:
    events = Events(intake)
    app.event("message")(events.on_message)
    app.event("reaction_added")(events.on_reaction)
