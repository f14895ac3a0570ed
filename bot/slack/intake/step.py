"""The Workflow Builder step "Make a video": its inputs as an Ask, through the same start
as ``/sora`` (allow-list, queue cap and daily quota checked with the insert, fairness in the
runner, a retried delivery never making a second job). The job row keeps the step's
execution id; bot.slack.steps completes the step when the job ends. A refused step gets
the plain words ``/sora`` would have shown, and nothing is spent."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from bot.sizes import DEFAULT_SECONDS, LANDSCAPE, PORTRAIT, SECONDS
from bot.slack import blocks as ui
from bot.slack.intake.answer import Ask
from bot.slack.intake.start import Starter
from bot.slack.parse import is_blank, prompt_too_long, small_int

_EMOJI = re.compile(r":[a-z0-9_+'-]+:\s*")
_INVITE = ui.invite_reply("").text.split(".")[0]  # "... I can't post in this channel yet"


def plain_words(text: str) -> str:
    """A reply's text as the plain sentence Workflow Builder shows: no emoji codes, no
    mrkdwn marks, one line."""
    text = _EMOJI.sub("", text).replace("`", "").replace("*", "")
    return " ".join(text.split())


class StepStarter:
    def __init__(self, *, starter: Starter) -> None:
        self.starter = starter

    async def start(
        self, *, execution_id: str, team_id: str, inputs: Mapping[str, Any]
    ) -> str | None:
        """None once the video is queued (the step completes when it ends); else the plain
        reason to fail the step with."""
        if not execution_id:
            return "Slack sent no execution id for this step."
        prompt = inputs.get("prompt")
        if not isinstance(prompt, str) or is_blank(prompt):
            return "The step has no prompt: say what the video should show."
        too_long = prompt_too_long(prompt)
        if too_long is not None:
            return too_long
        channel = inputs.get("channel")
        if not isinstance(channel, str) or not channel:
            return "The step has no channel to post the video in."
        user = inputs.get("requester")
        if not isinstance(user, str) or not user:
            return "The step names no requester: set it to the person who used the workflow."
        orientation = str(inputs.get("orientation") or "portrait").strip().lower()
        if orientation not in ("portrait", "landscape"):
            return f"The orientation must be portrait or landscape, not {orientation[:40]!r}."
        raw = inputs.get("seconds")
        seconds = DEFAULT_SECONDS if raw in (None, "") else small_int(raw)
        if isinstance(raw, bool) or seconds not in SECONDS:
            return f"The seconds must be 4, 8 or 12, not {str(raw)[:20]!r}."
        image = inputs.get("image")
        ask = Ask(
            team_id=team_id,
            channel_id=channel,
            user_id=user,
            prompt=prompt,
            size=LANDSCAPE if orientation == "landscape" else PORTRAIT,
            seconds=seconds,
            dedupe_key=f"step:{execution_id}",
            function_execution_id=execution_id,
        )
        answer = await self.starter.start(
            ask, image_file=image if isinstance(image, str) and image else None
        )
        if answer is None:
            return None
        if answer.message.text.startswith(_INVITE):
            return (
                f"I'm not a member of that channel ({channel}): invite me there with "
                "/invite @Sora, then run the workflow again. Nothing was spent."
            )
        return plain_words(answer.message.text)
