"""The Workflow Builder custom step "Make a video" (manifest.yml ``functions``).

Bolt acknowledges the ``function_executed`` event; the listener starts the job through
the intake and returns. The step is completed when the video is delivered (or fails), by
bot.slack.steps; a refused request fails the step here with the same plain words
``/sora`` would show.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.fail.async_fail import AsyncFail
from slack_sdk.errors import SlackApiError

from bot.slack.intake import Intake

log = logging.getLogger(__name__)
STEP_MAKE_VIDEO = "sora_make_video"


class WorkflowStep:
    def __init__(self, intake: Intake) -> None:
        self.intake = intake

    async def on_make_video(
        self, body: dict[str, Any], event: dict[str, Any], fail: AsyncFail
    ) -> None:
        inputs = event.get("inputs")
        reason = await self.intake.workflow_step(
            execution_id=str(event.get("function_execution_id") or ""),
            team_id=str(body.get("team_id") or ""),
            inputs=inputs if isinstance(inputs, dict) else {},
        )
        if reason is None:
            return
        try:
            await fail(error=reason)
        except (SlackApiError, ValueError) as exc:
            log.warning("could not fail the step: %s", exc)


def register(app: AsyncApp, *, intake: Intake) -> None:
    app.function("sora_make_video")(WorkflowStep(intake).on_make_video)
