"""Buttons on job cards (keyed by job id, so they work after a restart)."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from bot import slack_ui
from bot.commands import small_int
from bot.listeners.common import tell
from bot.listeners.manage import remove
from bot.services import Services


def register(app: AsyncApp, services: Services) -> None:
    async def job_of(body: dict[str, Any]) -> Any:
        action = (body.get("actions") or [{}])[0]
        job_id = small_int(action.get("value"))
        return await services.store.get_job(job_id) if job_id is not None else None

    @app.action(slack_ui.ACTION_REMIX)
    async def remix(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        job = await job_of(body)
        if job is None:
            return
        await client.views_open(
            trigger_id=body["trigger_id"],
            view=slack_ui.remix_modal({"job": job.id}, job.version_label or "v1"),
        )

    async def manage(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        job = await job_of(body)
        user = str((body.get("user") or {}).get("id") or "")
        if job is None or not user:
            return
        message = await remove(services, job, user)
        if message is not None:
            await tell(client, job.channel_id, user, message, job.thread_ts)

    app.action(slack_ui.ACTION_DELETE)(manage)
    app.action(slack_ui.ACTION_CANCEL)(manage)
