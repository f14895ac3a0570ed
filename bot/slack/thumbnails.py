"""A video's first frame as a private Slack file, for the Home tab's ``slack_file`` images.

Azure's ``thumbnail`` variant is WebP, which Block Kit images do not take: it is converted
to PNG (Pillow, off the event loop) and uploaded with Slack's external flow *without* a
channel, so the file is the bot's own and shared nowhere; a Home view shows it through
``{"slack_file": {"id": ...}}``, never a public URL. Its id is stored once the upload is
complete (a crash before that leaves at most an unlisted private file). Deleting the video
deletes the image too. A thumbnail is a nicety: every failure is logged and ignored.
"""

from __future__ import annotations

import asyncio
import io
import logging
from pathlib import Path

import aiohttp
from PIL import Image
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.store import Job, Store

log = logging.getLogger(__name__)
MAX_SIDE = 480  # the Home tab shows it small; a smaller file uploads faster


def to_png(path: Path, max_side: int = MAX_SIDE) -> bytes:
    with Image.open(path) as image:
        image.load()
        frame = image.convert("RGB")
    frame.thumbnail((max_side, max_side))
    out = io.BytesIO()
    frame.save(out, format="PNG", optimize=True)
    return out.getvalue()


class Thumbnails:
    def __init__(
        self, *, client: AsyncWebClient, store: Store, http: aiohttp.ClientSession
    ) -> None:
        self.client = client
        self.store = store
        self.http = http

    async def keep(self, job: Job, path: Path) -> None:
        """Upload ``path`` privately as the job's first frame, once. Never raises."""
        try:
            if job.id in await self.store.thumbnails([job.id]):
                return
            if not await asyncio.to_thread(path.exists):
                return
            data = await asyncio.to_thread(to_png, path)
            resp = await self.client.files_getUploadURLExternal(
                filename=f"sora-frame-{job.id}.png", length=len(data)
            )
            file_id, url = str(resp["file_id"]), str(resp["upload_url"])
            headers = {"Content-Type": "application/octet-stream"}
            async with self.http.post(url, data=data, headers=headers) as answer:
                if answer.status != 200:
                    log.info("job %d: first frame upload answered %d", job.id, answer.status)
                    return
            await self.client.files_completeUploadExternal(
                files=[{"id": file_id, "title": f"First frame of video {job.id}"}]
            )
            await self.store.set_thumbnail(job.id, file_id)
        except Exception as exc:  # a nicety, never a reason to fail a delivery
            log.info("job %d: no first frame for the Home tab (%r)", job.id, exc)

    async def remove(self, job: Job) -> None:
        """Delete the job's first frame in Slack (the video was deleted)."""
        file_id = (await self.store.thumbnails([job.id])).get(job.id)
        if file_id is None:
            return
        try:
            await self.client.files_delete(file=file_id)
        except SlackApiError as exc:
            if exc.response.get("error") not in ("file_not_found", "file_deleted"):
                raise
        await self.store.set_thumbnail(job.id, None)
