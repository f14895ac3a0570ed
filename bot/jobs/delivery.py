"""Where finished videos go: the ``Delivery`` interface, and a local-directory delivery.

The runner calls a Delivery for two things: to show progress (``job_updated``: cards in
Slack, a progress bar in a terminal) and to publish a finished video exactly once
(``deliver``). ``deliver`` gets a ``remember`` callback: it must call it with a reference
that identifies the publication (a Slack file id, a file name) *before* the publication
becomes visible, so that after a crash ``delivered_already`` can tell whether to publish
again.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bot.store import Job


@dataclass(frozen=True)
class Artifacts:
    """A finished job's files on local disk (removed by the runner after delivery)."""

    video: Path
    thumbnail: Path | None = None


Remember = Callable[[str], Awaitable[Job]]


class DeliveryRefused(Exception):
    """The destination refuses for good (the bot left the channel, it was archived):
    retrying cannot help, so the job fails with this message."""


class Delivery(Protocol):
    async def job_updated(self, job: Job, queue_position: int | None) -> None:
        """The job's state, progress or queue position changed. Must not raise."""

    async def deliver(self, job: Job, artifacts: Artifacts, remember: Remember) -> None:
        """Publish the video. Call ``remember(ref)`` before it becomes visible."""

    async def delivered_already(self, job: Job) -> bool:
        """After a restart in ``uploading``: is ``job.slack_file_id`` already published?"""

    async def retract(self, job: Job) -> None:
        """The video was deleted: remove what was published. Idempotent."""


class LocalDirectoryDelivery:
    """Writes ``job-<id>-<label>.mp4`` (and ``.webp`` thumbnail) into a directory.

    Used by ``sora-bot demo`` and by tests. ``on_update`` receives every progress report.
    """

    def __init__(
        self,
        directory: Path,
        on_update: Callable[[Job, int | None], None] | None = None,
    ) -> None:
        self.directory = directory
        self._on_update = on_update

    def _name(self, job: Job) -> str:
        return f"job-{job.id}-{job.version_label or 'v1'}"

    async def job_updated(self, job: Job, queue_position: int | None) -> None:
        if self._on_update is not None:
            self._on_update(job, queue_position)

    async def deliver(self, job: Job, artifacts: Artifacts, remember: Remember) -> None:
        await asyncio.to_thread(self.directory.mkdir, parents=True, exist_ok=True)
        target = self.directory / f"{self._name(job)}.mp4"
        await remember(target.name)
        # The video last: its presence is what delivered_already() checks after a crash.
        if artifacts.thumbnail is not None and artifacts.thumbnail.exists():
            thumb = self.directory / f"{self._name(job)}.webp"
            await asyncio.to_thread(_copy_atomic, artifacts.thumbnail, thumb)
        await asyncio.to_thread(_copy_atomic, artifacts.video, target)

    async def delivered_already(self, job: Job) -> bool:
        if not job.slack_file_id:
            return False
        return await asyncio.to_thread((self.directory / job.slack_file_id).exists)

    async def retract(self, job: Job) -> None:
        if job.slack_file_id:
            for path in (
                self.directory / job.slack_file_id,
                self.directory / f"{self._name(job)}.webp",
            ):
                await asyncio.to_thread(path.unlink, True)


def _copy_atomic(source: Path, target: Path) -> None:
    part = target.with_name(target.name + ".part")
    shutil.copyfile(source, part)
    os.replace(part, target)
