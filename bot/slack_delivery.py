"""Delivery into Slack: cards for progress, the MP4 streamed into the card's thread.

The upload follows Slack's external flow (``files.getUploadURLExternal``, a raw POST of the
bytes, ``files.completeUploadExternal`` with ``thread_ts``), streamed from disk in 1 MiB
reads off the event loop, never whole in memory. The file id is remembered before the
upload is completed, so a retried or resumed delivery checks ``files.info`` (and completes
an upload left half-done) instead of sharing the video twice.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import IO, Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import slack_ui
from bot.cards import Cards
from bot.jobs import Artifacts, DeliveryRefused
from bot.jobs.delivery import Remember
from bot.store import Job, Store

log = logging.getLogger(__name__)
CHUNK = 1024 * 1024
# Errors that no retry can fix: the job fails with a reason instead.
PERMANENT = {
    "not_in_channel": "the bot is no longer in the channel (invite it and start again)",
    "channel_not_found": "the channel is gone or the bot cannot see it",
    "is_archived": "the channel was archived",
    "invalid_thread_ts": "the video's thread is gone",
    "thread_not_found": "the video's thread is gone",
    "message_not_found": "the video's card was deleted",
    "invalid_auth": "the bot's Slack token is not valid",
    "account_inactive": "the bot's Slack token was revoked",
    "missing_scope": "the app lacks a permission (files:write); reinstall it from manifest.yml",
}


class UploadFailed(Exception):
    pass


class SlackDelivery:
    def __init__(
        self,
        client: AsyncWebClient,
        store: Store,
        cards: Cards,
        http: aiohttp.ClientSession,
        *,
        share_wait: float = 10.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.client = client
        self.store = store
        self.cards = cards
        self.http = http
        self.share_wait = share_wait
        self.sleep = sleep

    async def job_updated(self, job: Job, queue_position: int | None) -> None:
        if not job.card_ts:  # a job queued just before a crash, or by a listener that died
            self.cards.ensure_soon(job)  # in its channel's turn; the runner does not wait
            return
        await self.cards.show(job, queue_position)

    async def deliver(self, job: Job, artifacts: Artifacts, remember: Remember) -> None:
        try:
            job = await self.cards.ensure(job)
            if job.slack_file_id and await self._published(job):
                return
            await self._upload(job, artifacts, remember)
        except SlackApiError as exc:
            error = _error(exc)
            if error in PERMANENT:
                raise DeliveryRefused(PERMANENT[error]) from exc
            raise

    async def delivered_already(self, job: Job) -> bool:
        return await self._published(job)

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

    # -- the upload ---------------------------------------------------------------------

    async def _upload(self, job: Job, artifacts: Artifacts, remember: Remember) -> None:
        size = await asyncio.to_thread(os.path.getsize, artifacts.video)
        label = job.version_label or "v1"
        resp = await self.client.files_getUploadURLExternal(
            filename=f"sora-{label}-{job.id}.mp4",
            length=size,
            alt_txt=slack_ui.clip(job.prompt, 1000),
        )
        file_id, url = str(resp["file_id"]), str(resp["upload_url"])
        job = await remember(file_id)  # before the video can become visible
        await self._stream(url, artifacts.video, size)
        await self._complete(job)
        await self._learn_share(job, file_id)

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

    async def _complete(self, job: Job) -> None:
        parent = await self.cards.parent_label(job)
        await self.client.files_completeUploadExternal(
            files=[{"id": job.slack_file_id, "title": slack_ui.video_title(job)}],
            channel_id=job.channel_id,
            thread_ts=job.thread_ts or job.card_ts,
            initial_comment=slack_ui.upload_comment(job, parent),
        )

    async def _published(self, job: Job) -> bool:
        """Was ``job.slack_file_id`` shared already? An upload whose bytes arrived but was
        never completed is completed now; only a file Slack never got needs a new upload."""
        file_id = job.slack_file_id
        if not file_id:
            return False
        try:
            await self.client.files_info(file=file_id)
        except SlackApiError as exc:
            error = _error(exc)
            if error == "file_deleted":
                return True  # someone removed it in Slack: never post it again
            if error != "file_not_found":
                raise
            try:
                await self._complete(job)
            except SlackApiError as again:
                log.info(
                    "job %d: upload %s cannot be completed (%s); uploading again",
                    job.id,
                    job.slack_file_id,
                    _error(again),
                )
                return False
            log.info("job %d: completed the upload %s left half-done", job.id, file_id)
        await self._learn_share(job, file_id)
        return True

    async def _learn_share(self, job: Job, file_id: str) -> None:
        """Find the message that shows the video (Slack shares asynchronously), so that
        reactions on it map back to the job."""
        delay, waited = 0.1, 0.0
        while waited <= self.share_wait:
            try:
                info = await self.client.files_info(file=file_id)
            except SlackApiError as exc:
                log.info("job %d: files.info: %s", job.id, _error(exc))
                return
            ts = _share_ts(info.get("file") or {}, job.channel_id)
            if ts:
                await self.store.update_job(job.id, video_message_ts=ts)
                return
            await self.sleep(delay)
            waited += delay
            delay = min(delay * 2, 2.0)
        log.warning("job %d: the share of %s is not visible yet", job.id, file_id)


def _share_ts(file: dict[str, Any], channel_id: str) -> str | None:
    shares = file.get("shares") or {}
    for kind in ("public", "private"):
        for share in (shares.get(kind) or {}).get(channel_id) or []:
            if share.get("ts"):
                return str(share["ts"])
    return None


def _error(exc: SlackApiError) -> str:
    return str(exc.response.get("error") or exc)


async def _ignoring(call: Awaitable[Any], *errors: str) -> None:
    try:
        await call
    except SlackApiError as exc:
        if _error(exc) not in errors:
            raise
