"""``sora-bot demo``: the whole job pipeline against the built-in emulator, in a terminal.

No accounts, no network: the emulator runs in-process on loopback, the store lives in a
temporary directory, and the videos land in ``./sora-demo/`` (MP4 and WebP thumbnail).
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import httpx

from bot.emulator import Emulator, EmulatorConfig
from bot.jobs import JobRunner, LocalDirectoryDelivery, PollPolicy, RunnerConfig
from bot.sizes import DEFAULT_SIZE
from bot.sora import ApiKeyAuth, SoraClient, SoraValidationError
from bot.sora.models import validate_create, validate_prompt
from bot.store import Job, JobKind, JobState, NewJob, Store

DEMO_KEY = "demo-key"
BAR = 30


@dataclass(frozen=True)
class DemoRequest:
    prompt: str
    size: str = DEFAULT_SIZE
    seconds: int = 4
    remixes: tuple[str, ...] = ()
    out_dir: Path = Path("sora-demo")
    queue_seconds: float = 1.0
    seconds_per_video_second: float = 1.0

    def validate(self) -> None:
        validate_create(self.prompt, self.size, self.seconds, None)
        for change in self.remixes:
            validate_prompt(change)


@dataclass
class ProgressBar:
    """Draws one line per job: a bar while it runs, its outcome when it ends."""

    stream: TextIO
    live: bool
    _last: dict[int, str] = field(default_factory=dict)
    _quarter: dict[int, int] = field(default_factory=dict)

    def __call__(self, job: Job, position: int | None) -> None:
        label = job.version_label or f"job {job.id}"
        if job.state == JobState.QUEUED:
            text = f"{label}: queued" + (f" (position {position})" if position else "")
        elif job.state in (JobState.SUBMITTING, JobState.RUNNING):
            done = int(BAR * job.progress / 100)
            text = f"{label}: [{'#' * done}{'.' * (BAR - done)}] {job.progress:3d}%"
        elif job.state == JobState.FAILED:
            text = f"{label}: failed: {job.error_message}"
        else:
            text = f"{label}: {job.state}"
        if self._last.get(job.id) == text:
            return
        self._last[job.id] = text
        ended = job.state not in (JobState.QUEUED, JobState.SUBMITTING, JobState.RUNNING)
        if self.live:
            self.stream.write("\r\033[K" + text + ("\n" if ended else ""))
        else:  # a log file or a pipe: a line per state, and per quarter of progress
            quarter = job.progress // 25 if job.state == JobState.RUNNING else -1
            if quarter != -1 and self._quarter.get(job.id) == quarter:
                return
            self._quarter[job.id] = quarter
            self.stream.write(text + "\n")
        self.stream.flush()


async def run_demo(request: DemoRequest, deployment: str, stream: TextIO) -> int:
    emulator = Emulator(
        EmulatorConfig(
            api_keys=frozenset({DEMO_KEY}),
            deployments={deployment: "sora-2"},
            queue_seconds=request.queue_seconds,
            generation_seconds_per_video_second=request.seconds_per_video_second,
        )
    )
    bar = ProgressBar(stream, live=stream.isatty())
    with tempfile.TemporaryDirectory(prefix="sora-demo-") as tmp:
        async with (
            emulator.serve() as base,
            httpx.AsyncClient(timeout=30) as http,
            await Store.open(Path(tmp) / "demo.db") as store,
        ):
            sora = SoraClient(
                http, base_url=f"{base}/openai/v1", deployment=deployment, auth=ApiKeyAuth(DEMO_KEY)
            )
            delivery = LocalDirectoryDelivery(request.out_dir, on_update=bar)
            config = RunnerConfig(
                work_dir=Path(tmp) / "work",
                poll=PollPolicy(
                    min_interval=0.25, max_interval=2.0, prior_base=1, prior_per_second=1
                ),
                tick=0.25,
                cleanup_interval=1.0,
            )
            runner = JobRunner(store, sora, delivery, config)
            jobs = await _enqueue_chain(runner, store, request, deployment)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            work = asyncio.create_task(runner.run_until_idle(limit=3600))
            stopper = asyncio.create_task(stop.wait())
            await asyncio.wait({work, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            await runner.stop(grace=2.0)
            if not work.done():
                work.cancel()
                stream.write("\ninterrupted\n")
                return 130
            work.result()
            return _summary(await _reload(store, jobs), request.out_dir, stream)


async def _enqueue_chain(
    runner: JobRunner, store: Store, request: DemoRequest, deployment: str
) -> list[Job]:
    def new(prompt: str, kind: JobKind, parent: Job | None) -> NewJob:
        return NewJob(
            team_id="demo",
            channel_id="demo",
            requester_id="you",
            kind=kind,
            prompt=prompt,
            model=deployment,
            size=request.size,
            seconds=request.seconds,
            thread_ts="demo",
            parent_job_id=parent.id if parent else None,
        )

    first = await runner.enqueue(new(request.prompt, JobKind.TEXT, None))
    jobs = [await store.set_card(first.id, card_ts="demo", thread_ts="demo")]
    for change in request.remixes:
        job = await runner.enqueue(new(change, JobKind.REMIX, jobs[-1]))
        jobs.append(await store.set_card(job.id, card_ts=f"demo.{job.id}", thread_ts="demo"))
    return jobs


async def _reload(store: Store, jobs: list[Job]) -> list[Job]:
    return [j for j in [await store.get_job(job.id) for job in jobs] if j is not None]


def _summary(jobs: list[Job], out_dir: Path, stream: TextIO) -> int:
    """The files this run made. A failure was already shown by its progress line; it is
    counted here, not repeated."""
    made = [j for j in jobs if j.state == JobState.DELIVERED and j.slack_file_id]
    if made:
        stream.write(
            f"\nNew in {out_dir}/ (placeholder clips: the emulator's 1-second sample, marked "
            "with each video's id; a real Sora video follows the prompt):\n"
        )
    for job in made:
        stream.write(
            f"{job.version_label}: {out_dir / (job.slack_file_id or '')}  ({job.prompt!r})\n"
        )
    failed = len(jobs) - len(made)
    if failed:
        stream.write(f"{failed} of {len(jobs)} video(s) not made (see above).\n")
    return 0 if not failed else 1


def clear_earlier_run(out_dir: Path) -> list[Path]:
    """Remove the videos and thumbnails an earlier demo left in ``out_dir`` (only files named
    as the demo names them), so every video there after this run is from this run."""
    stale = [
        p
        for pattern in ("job-*-v*.mp4", "job-*-v*.webp", "job-*.mp4", "job-*.webp")
        for p in out_dir.glob(pattern)
        if p.is_file()
    ]
    unique = sorted(set(stale))
    for path in unique:
        path.unlink(missing_ok=True)
    return unique


def main(
    prompt: str,
    *,
    size: str,
    seconds: int,
    remixes: list[str],
    out_dir: Path,
    deployment: str,
    fast: bool,
    stream: TextIO = sys.stdout,
) -> int:
    request = DemoRequest(
        prompt=prompt,
        size=size,
        seconds=seconds,
        remixes=tuple(remixes),
        out_dir=out_dir,
        queue_seconds=0.2 if fast else 1.0,
        seconds_per_video_second=0.1 if fast else 1.0,
    )
    try:
        request.validate()
    except SoraValidationError as exc:
        print(f"sora-bot demo: {exc.message}", file=sys.stderr)
        return 2
    if shutil.disk_usage(out_dir.parent if out_dir.parent.exists() else Path.cwd()).free < 50e6:
        print("sora-bot demo: less than 50 MB free on disk", file=sys.stderr)
        return 2
    removed = clear_earlier_run(out_dir) if out_dir.is_dir() else []
    stream.write(
        f"Making {len(remixes) + 1} placeholder video(s) with the built-in emulator into "
        f"{out_dir}/ (no Azure: each clip is the same 1-second sample whatever the prompt "
        "and --seconds)\n"
    )
    if removed:
        stream.write(f"(removed {len(removed)} file(s) an earlier demo left there)\n")
    stream.write(f"(log: {out_dir / 'demo.log'})\n")
    return asyncio.run(run_demo(request, deployment, stream))
