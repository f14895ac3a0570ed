"""Small helpers shared by listeners: carrying out an intake Answer, reading a view."""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack import blocks as ui
from bot.slack.intake import Answer, To

log = logging.getLogger(__name__)


async def send(client: AsyncWebClient, answer: Answer, *, user: str) -> None:
    """Say an intake answer where it says it goes."""
    if answer.to is To.THREAD:
        await say_in_thread(
            client, channel=answer.channel, thread_ts=answer.thread_ts or "", message=answer.message
        )
    else:
        await tell(
            client,
            channel=answer.channel,
            user=user,
            message=answer.message,
            thread_ts=answer.thread_ts,
        )


async def tell(
    client: AsyncWebClient,
    *,
    channel: str,
    user: str,
    message: ui.Message,
    thread_ts: str | None = None,
) -> None:
    """Say something to one person privately, where they are; by DM if that fails."""
    extra: dict[str, Any] = {"thread_ts": thread_ts} if thread_ts else {}
    try:
        await client.chat_postEphemeral(
            channel=channel, user=user, **ui.message_args(message), **extra
        )
        return
    except SlackApiError as exc:
        log.info("ephemeral to %s in %s refused (%s); sending a DM", user, channel, exc)
    try:
        await client.chat_postMessage(channel=user, **ui.message_args(message))
    except SlackApiError as exc:
        log.warning("could not tell %s: %s", user, exc.response.get("error"))


async def say_in_thread(
    client: AsyncWebClient, *, channel: str, thread_ts: str, message: ui.Message
) -> None:
    try:
        await client.chat_postMessage(
            channel=channel, thread_ts=thread_ts, **ui.message_args(message)
        )
    except SlackApiError as exc:
        log.warning("reply in %s/%s refused: %s", channel, thread_ts, exc.response.get("error"))


def metadata(view: dict[str, Any]) -> dict[str, Any]:
    try:
        data = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def value(view: dict[str, Any], block: tuple[str, str]) -> Any:
    """The state of one input of a submitted view (None when absent)."""
    values = ((view.get("state") or {}).get("values") or {}).get(block[0]) or {}
    return values.get(block[1]) or {}


def selected(view: dict[str, Any], block: tuple[str, str]) -> Any:
    """The value of a submitted view's radio button or select (None when absent)."""
    return (value(view, block).get("selected_option") or {}).get("value")
