"""Events: ``remix`` replies in video threads, and delete reactions.

Both listeners always match their event type (Socket Mode acks only what a listener
handled); everything not meant for the bot is ignored inside.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack import blocks as ui
from bot.slack.intake import Refused
from bot.slack.listeners.common import say_in_thread, tell
from bot.slack.listeners.manage import remove
from bot.slack.listeners.remix import start_remix
from bot.slack.parse import is_blank, parse_remix
from bot.slack.services import Services
from bot.sora.models import PROMPT_MAX

log = logging.getLogger(__name__)
REPLY_SUBTYPES = (None, "thread_broadcast", "file_share")


def register(app: AsyncApp, services: Services) -> None:
    @app.event("message")
    async def on_message(
        body: dict[str, Any], event: dict[str, Any], client: AsyncWebClient
    ) -> None:
        if event.get("bot_id") or event.get("subtype") not in REPLY_SUBTYPES:
            return  # bots, edits, deletions, joins...: acked and ignored
        thread, ts = event.get("thread_ts"), event.get("ts")
        remix = parse_remix(str(event.get("text") or ""))
        if not thread or thread == ts or remix is None:
            return
        if not await services.store.claim_event(f"event:{body.get('event_id') or ts}"):
            return
        channel, user = str(event.get("channel") or ""), str(event.get("user") or "")
        if not channel or not user:
            return  # nobody to answer, nowhere to answer
        await _remix_reply(services, client, channel, str(thread), user, remix, body)

    @app.event("reaction_added")
    async def on_reaction(
        body: dict[str, Any], event: dict[str, Any], client: AsyncWebClient
    ) -> None:
        name = str(event.get("reaction") or "").split("::", 1)[0].lower()
        item = event.get("item") or {}
        if name not in services.settings.delete_reactions or item.get("type") != "message":
            return
        channel, ts = str(item.get("channel") or ""), str(item.get("ts") or "")
        job = await services.store.find_by_message(channel, ts)
        if job is None or not services.intake.allowed(channel):
            return
        if not await services.store.claim_event(f"event:{body.get('event_id')}"):
            return
        user = str(event.get("user") or "")
        if not user:
            return
        message = await remove(services, job, user)
        if message is not None:
            await tell(client, channel, user, message, job.thread_ts)


async def _remix_reply(
    services: Services,
    client: AsyncWebClient,
    channel: str,
    thread: str,
    user: str,
    remix: Any,
    body: dict[str, Any],
) -> None:
    store = services.store
    refused = services.intake.not_here(channel)
    if refused is not None:
        await tell(client, channel, user, refused.message, thread)
        return
    jobs = await store.jobs_in_thread(channel, thread)
    if not jobs:
        await say_in_thread(client, channel, thread, ui.notice(
            "There is no video in this thread to remix. Start one with `/sora PROMPT`."
        ))  # fmt: skip
        return
    if len(remix.change) > PROMPT_MAX:
        await say_in_thread(client, channel, thread, ui.notice(
            f"That change is {len(remix.change):,} characters; the limit is {PROMPT_MAX:,}."
        ))  # fmt: skip
        return
    if is_blank(remix.change):
        await say_in_thread(client, channel, thread, ui.notice(
            "Say what should change, for example `remix: make it night time`."
        ))  # fmt: skip
        return
    if remix.version:
        parent = await store.job_by_version(channel, thread, remix.version)
        if parent is None:
            labels = ", ".join(j.version_label for j in jobs if j.version_label) or "none"
            await say_in_thread(client, channel, thread, ui.notice(
                f"There is no {remix.version} in this thread (versions here: {labels})."
            ))  # fmt: skip
            return
    else:
        parent = await store.latest_delivered_in_thread(channel, thread)
        if parent is None and any(j.unfinished for j in jobs):
            await say_in_thread(client, channel, thread, ui.notice(
                "No video in this thread is finished yet: remix it once it is here."
            ))  # fmt: skip
            return
        if parent is None:  # every version failed or was deleted: start_remix says why
            parent = jobs[-1]
    key = f"event:{body.get('event_id') or thread}"
    problem = await start_remix(services, parent, remix.change, user, key)
    if isinstance(problem, Refused):
        await tell(client, channel, user, problem.message, thread)
    elif problem is not None:
        await say_in_thread(client, channel, thread, problem)
