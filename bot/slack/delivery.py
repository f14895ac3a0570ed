"""Delivery into Slack: cards for progress, the MP4 streamed into the card's thread.

The upload follows Slack's external flow (``files.getUploadURLExternal``, a raw POST of the
bytes, ``files.completeUploadExternal`` with ``thread_ts``), streamed from disk in 1 MiB
reads off the event loop, never whole in memory.

A video is delivered only when its share is *seen*: ``files.info`` shows the file shared in
the job's channel. A file that exists is not proof (Slack may know a file from
``files.getUploadURLExternal`` on, with no share). Two facts are written before the step
that needs them, so a retry or a restart never shares twice and never gives up on a guess:
the file id (before the bytes go up) and ``completion_sent_at`` (before the completion is
sent; from then on a share may appear even if the answer was lost). A file whose
completion was never sent is completed if its bytes arrived, or uploaded again; a file
whose completion was sent is completed again if Slack lets it, and its share waited for;
not seen within ``share_wait``, the delivery fails for now (``ShareNotVisible``) and is
looked for again later, after a restart too. The job stays ``uploading`` until then. Only a
file whose share has still not shown ``share_give_up`` (15 minutes) after its completion
was first sent is uploaded again, taken as never shared.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import IO, Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncConnectionErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from bot.jobs import Artifacts, DeliveryRefused
from bot.jobs.delivery import Remember
from bot.slack import blocks as ui
from bot.slack.cards import Cards
from bot.slack.errors import PERMANENT
from bot.slack.notices import Notices
from bot.slack.thumbnails import Thumbnails
from bot.sora.retry import backoff
from bot.store import Job, JobState, Store

log = logging.getLogger(__name__)
CHUNK = 1024 * 1024


class UploadFailed(Exception):
    pass


class ShareNotVisible(Exception):
    """The upload was completed but its share is not visible yet: look again later."""


class SlackDelivery:
    def __init__(
        self,
        client: AsyncWebClient,
        store: Store,
        cards: Cards,
        http: aiohttp.ClientSession,
        *,
        share_wait: float = 10.0,
        share_give_up: float = 900.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        notices: Notices | None = None,
        thumbnails: Thumbnails | None = None,
        on_change: Callable[[Job], None] | None = None,
    ) -> None:
        self.client = client
        self.store = store
        self.cards = cards
        self.http = http
        self.share_wait = share_wait
        self.share_give_up = share_give_up
        self.sleep = sleep
        self.notices = notices  # the requester's one mention per video (bot.slack.notices)
        self.thumbnails = thumbnails  # the first frame, private, for the Home tab
        self.on_change = on_change  # told every update (the Home tab publisher filters)
        # files.completeUploadExternal is not idempotent: a dropped connection is not
        # retried blindly (a 429 is: nothing was done); the caller decides with what it knows.
        self._once = copy.copy(client)
        self._once.retry_handlers = [
            h for h in client.retry_handlers if not isinstance(h, AsyncConnectionErrorRetryHandler)
        ]

    async def job_updated(self, job: Job, queue_position: int | None) -> None:
        if self.on_change is not None:
            self.on_change(job)
        if job.state == JobState.FAILED and self.notices is not None:
            await self.notices.failed(job)
        if not job.card_ts:  # a job queued just before a crash, or by a listener that died
            self.cards.ensure_soon(job)  # in its channel's turn; the runner does not wait
            return
        await self.cards.show(job, queue_position)

    async def deliver(self, job: Job, artifacts: Artifacts, remember: Remember) -> None:
        try:
            job = await self.cards.ensure(job)
            if not (job.slack_file_id and await self._resume(job)):
                await self._upload(job, artifacts, remember)
        except SlackApiError as exc:
            error = _error(exc)
            if error in PERMANENT:
                raise DeliveryRefused(PERMANENT[error]) from exc
            raise
        if self.thumbnails is not None and artifacts.thumbnail is not None:
            await self.thumbnails.keep(job, artifacts.thumbnail)  # never raises

    async def delivered_already(self, job: Job) -> bool:
        """Is the video seen shared in the job's channel (or removed in Slack since)?
        Only looks: finishing a half-done upload is ``deliver``'s work."""
        file_id = job.slack_file_id
        if not file_id:
            return False
        file = await self._file(job, file_id)
        if file is _DELETED:
            return True
        return await self._seen(job, file)

    async def retract(self, job: Job) -> None:
        if job.slack_file_id:
            await _ignoring(
                self.client.files_delete(file=job.slack_file_id),
                "file_not_found",
                "file_deleted",
            )
        if job.video_message_ts:
            await _ignoring(
                self.client.chat_delete(channel=job.channel_id, ts=job.video_message_ts),
                "message_not_found",
            )
        if self.thumbnails is not None:
            await self.thumbnails.remove(job)

    # -- the upload ---------------------------------------------------------------------

    async def _upload(self, job: Job, artifacts: Artifacts, remember: Remember) -> None:
        size = await asyncio.to_thread(os.path.getsize, artifacts.video)
        label = job.version_label or "v1"
        resp = await self.client.files_getUploadURLExternal(
            filename=f"sora-{label}-{job.id}.mp4",
            length=size,
            alt_txt=ui.clip(job.prompt, 1000),
        )
        file_id, url = str(resp["file_id"]), str(resp["upload_url"])
        job = await remember(file_id)  # before the video can become visible
        await self._stream(url, artifacts.video, size)
        job = await self._complete(job)
        await self._await_share(job, file_id)

    async def _stream(self, url: str, path: Path, size: int) -> None:
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        handle: IO[bytes] = await asyncio.to_thread(open, path, "rb")
        try:  # the file is closed here, whether or not the body was read to its end

            async def chunks() -> AsyncIterator[bytes]:
                while chunk := await asyncio.to_thread(handle.read, CHUNK):
                    yield chunk

            async with self.http.post(url, data=chunks(), headers=headers) as resp:
                body = await resp.text()
                if resp.status != 200:
                    raise UploadFailed(f"upload answered {resp.status}: {body[:200]}")
        finally:
            await asyncio.to_thread(handle.close)

    async def _complete(self, job: Job) -> Job:
        parent = await self.cards.parent_label(job)
        first = job.completion_sent_at is None
        file_id = job.slack_file_id
        assert file_id is not None
        mention = None
        if self.notices is not None:  # claimed before it is sent, like completion_sent_at
            mention = await self.notices.done_mention(job, file_id)
        if first:  # written before it is sent: its answer may be lost after it took effect
            job = await self.store.update_job(job.id, completion_sent_at=time.time())
        try:
            await self._once.files_completeUploadExternal(
                files=[{"id": job.slack_file_id, "title": ui.video_title(job)}],
                channel_id=job.channel_id,
                thread_ts=job.thread_ts or job.card_ts,
                initial_comment=ui.upload_comment(job, parent, mention=mention),
            )
        except SlackApiError as exc:
            if first and _refused(exc):  # Slack answered and did nothing
                await self.store.update_job(job.id, completion_sent_at=None)
                if self.notices is not None:
                    await self.notices.not_shared(job, file_id)
            raise
        return job

    async def _resume(self, job: Job) -> bool:
        """A retry or a restart with ``job.slack_file_id`` known. True when its share is
        seen (or the file was removed in Slack); False when the file must be uploaded again;
        ``ShareNotVisible`` when the completion was sent and the share is still awaited."""
        file_id = job.slack_file_id
        assert file_id is not None
        file = await self._file(job, file_id)
        if file is _DELETED:
            return True  # someone removed it in Slack: never post it again
        if await self._seen(job, file):
            return True
        if job.completion_sent_at is None:
            try:  # never completed: complete it if its bytes arrived
                job = await self._complete(job)
            except SlackApiError as exc:
                if _error(exc) in PERMANENT or not _refused(exc):
                    raise  # no answer: it may have taken effect; looked at again later
                log.info(
                    "job %d: upload %s cannot be completed (%s); uploading again",
                    job.id,
                    file_id,
                    _error(exc),
                )
                return False
            log.info("job %d: completed the upload %s left half-done", job.id, file_id)
            await self._await_share(job, file_id)
            return True
        try:  # sent before: in case it did not take effect (Slack refuses a second one)
            await self._complete(job)
        except SlackApiError as exc:
            if _error(exc) in PERMANENT:
                raise
            log.info("job %d: completing %s again: %s", job.id, file_id, _error(exc))
        try:
            await self._await_share(job, file_id)
        except ShareNotVisible:
            if time.time() - job.completion_sent_at < self.share_give_up:
                raise
            log.warning(
                "job %d: %s was never shared %.0fs after its completion; uploading again",
                job.id,
                file_id,
                self.share_give_up,
            )
            if self.notices is not None:
                await self.notices.not_shared(job, file_id)  # the next file may carry it
            return False
        return True

    async def _file(self, job: Job, file_id: str) -> dict[str, Any] | None:
        """``files.info``'s file, None when Slack does not know it (yet), or _DELETED."""
        try:
            info = await self.client.files_info(file=file_id)
        except SlackApiError as exc:
            error = _error(exc)
            if error == "file_deleted":
                return _DELETED
            if error == "file_not_found":
                return None
            raise
        return dict(info.get("file") or {})

    async def _seen(self, job: Job, file: dict[str, Any] | None) -> bool:
        ts = _share_ts(file or {}, job.channel_id)
        if ts is None:
            return False
        if ts != job.video_message_ts:
            await self.store.update_job(job.id, video_message_ts=ts)
        return True

    async def _await_share(self, job: Job, file_id: str) -> None:
        """Wait for the share to show (Slack shares asynchronously); it is the proof of
        delivery, and its ts maps reactions on the video back to the job."""
        looks, waited = 0, 0.0
        while True:
            file = await self._file(job, file_id)
            if file is _DELETED or await self._seen(job, file):
                return
            if waited >= self.share_wait:
                break
            looks += 1
            delay = backoff(looks, first=0.1, ceiling=2.0)
            await self.sleep(delay)
            waited += delay
        log.warning(
            "job %d: the share of %s is not visible yet; looking again later", job.id, file_id
        )
        raise ShareNotVisible(f"the share of {file_id} is not visible yet")


_DELETED: dict[str, Any] = {"deleted": True}  # files.info said file_deleted


def _share_ts(file: dict[str, Any], channel_id: str) -> str | None:
    shares = file.get("shares") or {}
    for kind in ("public", "private"):
        for share in (shares.get(kind) or {}).get(channel_id) or []:
            if share.get("ts"):
                return str(share["ts"])
    return None


def _refused(exc: SlackApiError) -> bool:
    """Slack answered ``ok: false`` (HTTP 200): the call was refused and did nothing. A 5xx
    or a lost answer says nothing about whether it took effect."""
    return getattr(exc.response, "status_code", None) == 200


def _error(exc: SlackApiError) -> str:
    return str(exc.response.get("error") or exc)


async def _ignoring(call: Awaitable[Any], *errors: str) -> None:
    try:
        await call
    except SlackApiError as exc:
        if _error(exc) not in errors:
            raise
