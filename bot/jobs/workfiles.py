"""The work folder: where a job's downloads are, and at start-up: 0700, and nothing left
in it by jobs that ended.

Files are removed when a job ends (``Transitions.move``); a crash or kill between the end and
the removal, or files from an older version, would otherwise stay for good: the sweep
removes every video, thumbnail, partial download and first frame that no unfinished job
needs and nobody wrote in the last minute (another process sharing the database and the
folder may be fitting an image or downloading). Only names the bot makes are touched.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bot.jobs.delivery import Artifacts
from bot.private_files import make_private, private_dir, sweep
from bot.store import Job

DOWNLOADS = re.compile(r"job-\d+\.(?:mp4|webp)(?:\.part)?")
FIRST_FRAMES = re.compile(r"[0-9a-f]{32}\.png")  # bot.slack.files names them uuid4().hex


def sweep_work_dir(work_dir: Path, keep: Iterable[Path], *, older_than: float = 60.0) -> int:
    """Make the folders 0700 and what is kept 0600; remove the rest. Returns the count."""
    kept = list(keep)
    kept += [p.with_name(p.name + ".part") for p in kept]
    inputs = work_dir / "inputs"
    private_dir(work_dir)
    if inputs.is_dir():  # made by the first image (bot.slack.files), 0700 too
        private_dir(inputs)
    removed = sweep(work_dir, DOWNLOADS, kept, older_than=older_than)
    removed += sweep(inputs, FIRST_FRAMES, kept, older_than=older_than)
    make_private(kept)
    return removed


@dataclass(frozen=True)
class WorkFiles:
    """Where one job's video and thumbnail are downloaded to, until they are delivered."""

    work_dir: Path

    def paths(self, job: Job) -> Artifacts:
        base = self.work_dir / f"job-{job.id}"
        return Artifacts(base.with_suffix(".mp4"), base.with_suffix(".webp"))

    async def sweep(self, unfinished: Iterable[Job]) -> int:
        """At start-up: keep what the unfinished jobs need, remove the rest (see above)."""
        jobs = list(unfinished)
        keep = [Path(j.input_image_path) for j in jobs if j.input_image_path]
        for job in jobs:
            files = self.paths(job)
            keep += [files.video, *([files.thumbnail] if files.thumbnail else [])]
        return await asyncio.to_thread(sweep_work_dir, self.work_dir, keep)

    async def discard(self, job: Job) -> None:
        """Remove the job's downloads (delivered, or given up)."""
        files = self.paths(job)
        for path in (files.video, files.thumbnail):
            if path is not None:
                await asyncio.to_thread(path.unlink, True)
