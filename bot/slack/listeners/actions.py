"""Buttons on job cards (keyed by job id, so they work after a restart).

A button acts only on a job of the conversation it was pressed in: a forged or stale job id
from elsewhere is ignored, exactly like an unknown one (so a press cannot tell whether a job
exists in another conversation). Outside the allow-list buttons do nothing, as reactions
do; the person is told why.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack import blocks as ui
from bot.slack.listeners.common import tell
from bot.slack.listeners.manage import remove
from bot.slack.parse import small_int
from bot.slack.services import Services
from bot.store import Job


def register(app: AsyncApp, services: Services) -> None:
    async def job_of(body: dict[str, Any], client: AsyncWebClient) -> tuple[Job, str] | None:
        """The pressed button's job and who pressed it, or None."""
        action = (body.get("actions") or [{}])[0]
        channel = str(
            (body.get("channel") or {}).get("id")
            or (body.get("container") or {}).get("channel_id")
            or ""
        )
        user = str((body.get("user") or {}).get("id") or "")
        if not channel or not user:
            return None
        refused = services.intake.not_here(channel)
        if refused is not None:
            await tell(client, channel, user, refused.message)
            return None
        job_id = small_int(action.get("value"))
        job = await services.store.get_job(job_id) if job_id is not None else None
        if job is None or job.channel_id != channel:
            return None
        return job, user

    @app.action(ui.ACTION_REMIX)
    async def remix(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        found = await job_of(body, client)
        if found is None:
            return
        job, _ = found
        await client.views_open(
            trigger_id=body["trigger_id"],
            view=ui.remix_modal({"job": job.id}, job.version_label or "v1"),
        )

    async def manage(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        found = await job_of(body, client)
        if found is None:
            return
        job, user = found
        message = await remove(services, job, user)
        if message is not None:
            await tell(client, job.channel_id, user, message, job.thread_ts)

    app.action(ui.ACTION_DELETE)(manage)
    app.action(ui.ACTION_CANCEL)(manage)
