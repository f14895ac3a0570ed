"""``/sora``: a video from a prompt, the modal, and the help/list/queue/usage subcommands."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack import blocks as ui
from bot.slack.intake import Ask, Intake
from bot.slack.parse import Invalid, OpenModal, Subcommand, parse_command

log = logging.getLogger(__name__)


class SoraCommand:
    def __init__(self, intake: Intake) -> None:
        self.intake = intake

    async def on_sora(
        self,
        ack: AsyncAck,
        command: dict[str, Any],
        client: AsyncWebClient,
        respond: AsyncRespond,
    ) -> None:
        text = str(command.get("text") or "")
        channel, user = str(command.get("channel_id") or ""), str(command.get("user_id") or "")
        if not channel or not user:
            log.warning("a /sora payload without a channel or user")
            await ack(**ui.message_args(ui.notice(
                ":warning: Slack did not say which channel (or who) this came from; "
                "try /sora again from a channel."
            )))  # fmt: skip
            return
        parsed = parse_command(text)
        if isinstance(parsed, Invalid):
            await ack(**ui.message_args(ui.error_reply(parsed.problem, parsed.example)))
            return
        if isinstance(parsed, Subcommand):
            if parsed.name == "help":
                await ack(**ui.message_args(ui.help_message()))
                return
            refused = self.intake.report_refused(parsed.name, channel)
            if refused is not None:
                await ack(**ui.message_args(refused.message))
                return
            await ack()
            domain = command.get("team_domain")
            report = await self.intake.report(
                parsed.name, channel=channel, user=user, team_domain=str(domain) if domain else None
            )
            await respond(**ui.message_args(report.message))
            return
        refused = self.intake.not_here(channel)
        if refused is not None:
            await ack(**ui.message_args(refused.message))
            return
        if isinstance(parsed, OpenModal) and not command.get("trigger_id"):
            await ack(**ui.message_args(ui.help_message()))  # no trigger: no modal to open
            return
        if isinstance(parsed, OpenModal):
            await ack()  # then the trigger, before anything slow: it expires in 3 s
            form = await self.intake.options_form(channel=channel, user=user)
            await client.views_open(trigger_id=command["trigger_id"], view=form.view)
            return
        await ack()
        trigger = str(command.get("trigger_id") or "")
        if trigger and not await self.intake.first_delivery(f"trigger:{trigger}"):
            log.info("duplicate /sora delivery %s ignored", trigger)
            return
        answer = await self.intake.start(
            Ask(
                team_id=str(command.get("team_id") or ""),
                channel_id=channel,
                user_id=user,
                prompt=parsed.prompt,
                size=parsed.size,
                seconds=parsed.seconds,
                variants=parsed.variants,
                dedupe_key=f"trigger:{trigger}" if trigger else None,
                command_text=text,
            )
        )
        if answer is not None:  # private: the command's own ephemeral response
            await respond(**ui.message_args(answer.message), response_type="ephemeral")


def register(app: AsyncApp, *, intake: Intake) -> None:
    app.command("/sora")(SoraCommand(intake).on_sora)
