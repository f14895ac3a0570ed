"""Completing the Workflow Builder steps that wait for videos.

``StepCompletion`` is a Delivery that passes everything on to the Slack delivery and, when
a job a step waits for ends (its row names the step's execution id), completes the step
with the bot token: ``functions.completeSuccess`` with the video's permalink, id and thread
once it is delivered, ``functions.completeError`` with the job's plain-words reason
otherwise (moderation, quota, timeout, canceled). The workflow's own token expires after
15 minutes and a video may wait longer, across restarts too: ``resume()`` at start-up
completes the steps whose jobs ended while the bot was away. A step Slack says is over
already (``execution_not_in_running_state``) counts as done.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.jobs.delivery import Artifacts, Delivery, Remember
from bot.slack.errors import error_code
from bot.store import Job, JobState, Store

log = logging.getLogger(__name__)
STEP_OVER = frozenset({"execution_not_in_running_state", "function_execution_not_found"})


def step_outputs(job: Job, permalink: str) -> dict[str, Any]:
    """The step's outputs (manifest.yml: functions.sora_make_video.output_parameters)."""
    return {
        "video_permalink": permalink,
        "video_id": job.video_id or "",
        "thread": {"channel_id": job.channel_id, "message_ts": job.thread_ts or job.card_ts},
    }


def step_error(job: Job) -> str:
    if job.state == JobState.CANCELED:
        return "The video was canceled in Slack before it was made."
    if job.state == JobState.DELETED and job.deleted_from == JobState.DELIVERED:
        return "The video was deleted before the step could report it."
    return job.error_message or "The video could not be made."


class StepCompletion:
    def __init__(
        self,
        inner: Delivery,
        *,
        client: AsyncWebClient,
        store: Store,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.inner = inner
        self.client = client
        self.store = store
        self.clock = clock
        self._busy: set[int] = set()

    async def job_updated(self, job: Job, queue_position: int | None) -> None:
        await self.inner.job_updated(job, queue_position)
        if job.function_execution_id and not job.function_done_at and not job.unfinished:
            await self.finish(job)

    async def deliver(self, job: Job, artifacts: Artifacts, remember: Remember) -> None:
        await self.inner.deliver(job, artifacts, remember)

    async def delivered_already(self, job: Job) -> bool:
        return await self.inner.delivered_already(job)

    async def retract(self, job: Job) -> None:
        await self.inner.retract(job)

    async def resume(self) -> None:
        """Complete the steps whose jobs ended while no one could tell them."""
        for job in await self.store.steps_owed():
            await self.finish(job)

    async def finish(self, job: Job) -> None:
        """Complete the step waiting for ``job`` (ended), once. Never raises."""
        if job.id in self._busy or not job.function_execution_id:
            return
        self._busy.add(job.id)
        try:
            await self._complete(job, job.function_execution_id)
            await self.store.update_job(job.id, function_done_at=self.clock())
        except SlackApiError as exc:
            error = error_code(exc)
            if error in STEP_OVER:
                log.info("job %d: its step is over already (%s)", job.id, error)
                await self.store.update_job(job.id, function_done_at=self.clock())
            else:
                log.warning("job %d: step not completed (%s); tried again at start", job.id, error)
        except Exception:
            log.exception("job %d: step not completed; tried again at start", job.id)
        finally:
            self._busy.discard(job.id)

    async def _complete(self, job: Job, execution_id: str) -> None:
        if job.state == JobState.CANCELED and not job.card_ts:
            return  # refused before its card was posted: the listener told the step why
        if job.state == JobState.DELIVERED:
            outputs = step_outputs(job, await self._permalink(job))
            await self.client.functions_completeSuccess(
                function_execution_id=execution_id, outputs=outputs
            )
            log.info("job %d: step %s completed", job.id, execution_id)
            return
        await self.client.functions_completeError(
            function_execution_id=execution_id, error=step_error(job)
        )
        log.info("job %d: step %s failed: %s", job.id, execution_id, job.state)

    async def _permalink(self, job: Job) -> str:
        if not job.slack_file_id:
            return ""
        try:
            answer = await self.client.files_info(file=job.slack_file_id)
        except SlackApiError as exc:
            log.info("job %d: no permalink (%s)", job.id, error_code(exc))
            return ""
        return str((answer.get("file") or {}).get("permalink") or "")
