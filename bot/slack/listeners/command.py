"""``/sora``: a video from a prompt, the modal, and the help/list/queue/usage subcommands."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack import blocks as ui
from bot.slack import reports
from bot.slack.intake import Ask, Refused
from bot.slack.parse import Invalid, OpenModal, Subcommand, parse_command
from bot.slack.services import Services, reply
from bot.store import UNFINISHED, JobState

log = logging.getLogger(__name__)


def register(app: AsyncApp, services: Services) -> None:
    @app.command("/sora")
    async def sora(
        ack: AsyncAck, command: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond
    ) -> None:
        text = str(command.get("text") or "")
        channel, user = str(command.get("channel_id") or ""), str(command.get("user_id") or "")
        if not channel or not user:
            log.warning("a /sora payload without a channel or user")
            await ack(**reply(ui.notice(
                ":warning: Slack did not say which channel (or who) this came from; "
                "try /sora again from a channel."
            )))  # fmt: skip
            return
        parsed = parse_command(text)
        if isinstance(parsed, Invalid):
            await ack(**reply(ui.error_reply(parsed.problem, parsed.example)))
            return
        if isinstance(parsed, Subcommand):
            if parsed.name == "help":
                await ack(**reply(ui.help_message()))
                return
            refused = services.intake.not_here(channel) if parsed.name == "queue" else None
            if refused is not None:  # the queue shows others' requests: not here
                await ack(**reply(refused.message))
                return
            await ack()
            await respond(**reply(await _report(services, parsed.name, command)))
            return
        refused = services.intake.not_here(channel)
        if refused is not None:
            await ack(**reply(refused.message))
            return
        if isinstance(parsed, OpenModal) and not command.get("trigger_id"):
            await ack(**reply(ui.help_message()))  # no trigger: no modal to open
            return
        if isinstance(parsed, OpenModal):
            await ack()  # then the trigger, before anything slow: it expires in 3 s
            await client.views_open(
                trigger_id=command["trigger_id"],
                view=ui.options_modal({"c": channel}),
            )
            return
        await ack()
        trigger = str(command.get("trigger_id") or "")
        if trigger and not await services.store.claim_event(f"trigger:{trigger}"):
            log.info("duplicate /sora delivery %s ignored", trigger)
            return
        result = await services.intake.start(
            Ask(
                team_id=str(command.get("team_id") or ""),
                channel_id=channel,
                user_id=user,
                prompt=parsed.prompt,
                size=parsed.size,
                seconds=parsed.seconds,
                dedupe_key=f"trigger:{trigger}" if trigger else None,
                command_text=text,
            )
        )
        if isinstance(result, Refused):
            await respond(**reply(result.message), response_type="ephemeral")


async def _report(services: Services, name: str, command: dict[str, Any]) -> ui.Message:
    store, user = services.store, str(command.get("user_id"))
    if name == "list":
        jobs = await store.recent_jobs_for_user(user, limit=10)
        return reports.list_message(jobs, command.get("team_domain"))
    if name == "queue":
        # One read: a job admitted between two reads would be in neither list.
        unfinished = await store.jobs_in_states(*UNFINISHED)
        running = [job for job in unfinished if job.state != JobState.QUEUED]
        queued = [job for job in unfinished if job.state == JobState.QUEUED]
        positions = await store.queue_positions()
        admin = services.intake.is_admin(user)
        return reports.queue_message(running, queued, positions, viewer=user, admin=admin)
    since = reports.month_start(services.clock())
    own = await store.seconds_used(user, since)
    everyone = await store.usage_by_user(since) if services.intake.is_admin(user) else None
    price = services.settings.price_per_second
    return reports.usage_message(user, own, price, everyone, services.clock())
