"""A JobRunner in its own process, for crash tests: the parent SIGKILLs it and starts another.

    python -m tests.fakes.runner_child --db PATH --api BASE_URL --out DIR --work DIR
        [--hang-in POINT] [--reconcile-delay S] [--limit S]

It wires SoraClient + Store + JobRunner with fast timings (as tests/rig.py does) and a
delivery that publishes into ``--out`` like LocalDirectoryDelivery and also appends
``<job id>\\n`` to ``OUT/deliveries.log`` (append, flush, fsync) after each copy, so a second
publication of a job is visible. It runs ``run_until_idle()`` and exits 0.

``--hang-in POINT`` makes every job that reaches POINT append ``POINT <job id>`` to
``OUT/hangs.log`` (fsync'd) and then sleep (until the parent kills the process):

    submit                 submitting, before the create request is sent
    created                submitting, the create was answered (the video exists at the
                           emulator) but its id is not recorded yet
    download               downloading, before the video is fetched
    upload-before-remember uploading, before the publication reference is recorded
    upload-after-remember  uploading, reference recorded, file not copied yet
    upload-between-copies  uploading, the first of the two files (video, thumbnail) copied
    upload-after-copy      uploading, published and logged, not yet marked delivered
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import httpx

import bot.jobs.delivery as delivery_module
from bot.jobs import JobRunner, LocalDirectoryDelivery, PollPolicy, RunnerConfig
from bot.jobs.delivery import Artifacts, Remember
from bot.sora import ApiKeyAuth, RetryPolicy, SoraClient
from bot.store import Job, JobState, Store

HANG_POINTS = (
    "submit",
    "created",
    "download",
    "upload-before-remember",
    "upload-after-remember",
    "upload-between-copies",
    "upload-after-copy",
)
FAST_POLL = PollPolicy(min_interval=0.02, max_interval=0.2, prior_base=0.1, prior_per_second=0.03)


def append_line(path: Path, line: str) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())


class Hangs:
    def __init__(self, point: str | None, log: Path) -> None:
        self.point = point
        self.log = log

    async def at(self, point: str, job_id: int) -> None:
        if point != self.point:
            return
        await asyncio.to_thread(append_line, self.log, f"{point} {job_id}")
        await asyncio.sleep(3600)  # until SIGKILL


class LoggingDelivery:
    """LocalDirectoryDelivery that also logs each publication (after the copy)."""

    def __init__(self, out: Path, hangs: Hangs) -> None:
        self.inner = LocalDirectoryDelivery(out)
        self.log = out / "deliveries.log"
        self.hangs = hangs

    async def job_updated(self, job: Job, queue_position: int | None) -> None:
        await self.inner.job_updated(job, queue_position)

    async def deliver(self, job: Job, artifacts: Artifacts, remember: Remember) -> None:
        async def remember_then_maybe_hang(ref: str) -> Job:
            await self.hangs.at("upload-before-remember", job.id)
            done = await remember(ref)
            await self.hangs.at("upload-after-remember", job.id)
            return done

        await self.inner.deliver(job, artifacts, remember_then_maybe_hang)
        await asyncio.to_thread(append_line, self.log, str(job.id))
        await self.hangs.at("upload-after-copy", job.id)

    async def delivered_already(self, job: Job) -> bool:
        return await self.inner.delivered_already(job)

    async def retract(self, job: Job) -> None:
        await self.inner.retract(job)


def hook_sora(sora: SoraClient, store: Store, hangs: Hangs) -> None:
    """Hang points inside the Sora calls (instance attributes shadow the methods)."""
    create, download = sora.create, sora.download

    async def job_for_prompt(prompt: str) -> int:
        jobs = await store.jobs_in_states(JobState.SUBMITTING)
        return next((j.id for j in jobs if j.prompt == prompt), 0)

    async def hanging_create(prompt: str, *args: Any, **kwargs: Any) -> Any:
        job_id = await job_for_prompt(prompt)
        await hangs.at("submit", job_id)
        video = await create(prompt, *args, **kwargs)
        await hangs.at("created", job_id)
        return video

    async def hanging_download(video_id: str, dest: Any, **kwargs: Any) -> int:
        if kwargs.get("variant", "video") == "video":
            job = await store.find_by_video_id(video_id)
            await hangs.at("download", job.id if job else 0)
        return await download(video_id, dest, **kwargs)

    sora.create = hanging_create  # type: ignore[method-assign]
    sora.download = hanging_download  # type: ignore[method-assign]


def hook_copies(hangs: Hangs) -> None:
    """Hang (in the copying thread) after the first of a job's two copies."""
    copy = delivery_module._copy_atomic
    copied: set[str] = set()

    def copy_then_maybe_hang(source: Path, target: Path) -> None:
        copy(source, target)
        if hangs.point == "upload-between-copies" and target.stem not in copied:
            copied.add(target.stem)
            append_line(hangs.log, f"upload-between-copies {target.stem.split('-')[1]}")
            time.sleep(3600)  # until SIGKILL

    delivery_module._copy_atomic = copy_then_maybe_hang


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--api", required=True, help="emulator base URL (no /openai/v1)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--hang-in", choices=HANG_POINTS, default=None)
    parser.add_argument("--reconcile-delay", type=float, default=0.05)
    parser.add_argument("--limit", type=float, default=60.0)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format=f"%(asctime)s [{os.getpid()}] %(name)s %(levelname)s %(message)s",
    )
    args.out.mkdir(parents=True, exist_ok=True)
    hangs = Hangs(args.hang_in, args.out / "hangs.log")
    config = RunnerConfig(
        work_dir=args.work,
        poll=FAST_POLL,
        busy_hold=0.05,
        auth_hold=0.1,
        retry_floor=0.01,
        retry_ceiling=0.05,
        cleanup_interval=0.05,
        tick=0.05,
        reconcile_delay=args.reconcile_delay,
        # Every kill in `submitting` costs an attempt; a soak kills often.
        max_create_attempts=100,
    )
    async with (
        httpx.AsyncClient(timeout=30) as http,
        await Store.open(args.db) as store,
    ):
        sora = SoraClient(
            http,
            base_url=f"{args.api}/openai/v1",
            deployment="sora-2",
            auth=ApiKeyAuth("emulator-key"),
            retry=RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05),
        )
        hook_sora(sora, store, hangs)
        hook_copies(hangs)
        runner = JobRunner(store, sora, LoggingDelivery(args.out, hangs), config)
        try:
            await runner.run_until_idle(limit=args.limit)
        finally:
            await runner.stop(grace=1.0)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
