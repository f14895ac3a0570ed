"""Shared by the pool benchmarks: a JobRunner over a pool of emulator resources on loopback,
a fresh SQLite store and a local-directory delivery, every time constant divided by a scale.
"""

from __future__ import annotations

import contextlib
import dataclasses
import statistics
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from bot.emulator import EmulatorConfig, EmulatorResources
from bot.jobs import (
    Backend,
    BackendStatus,
    HealthPolicy,
    JobRunner,
    LocalDirectoryDelivery,
    PollPolicy,
    RunnerConfig,
)
from bot.sora import ApiKeyAuth, RetryPolicy, SoraClient
from bot.store import JobKind, NewJob, Store

KEY = "bench-key"
QUEUE_SECONDS = 2.0  # real-world seconds a job waits at Azure before it starts
PER_VIDEO_SECOND = 12.5  # real-world generation seconds per second of clip (4 s: ~52 s)


class Notices:
    """Counts the admin notices (the Slack side's job in production)."""

    def __init__(self) -> None:
        self.down: list[str] = []
        self.up: list[str] = []

    async def backend_down(self, backend: BackendStatus) -> None:
        self.down.append(backend.name)

    async def backend_up(self, backend: BackendStatus, downtime: float) -> None:
        self.up.append(backend.name)


@dataclass
class PoolWorld:
    resources: EmulatorResources
    store: Store
    runner: JobRunner
    notices: Notices
    out: Path


def new_job(i: int, people: int, seconds: int = 4) -> NewJob:
    return NewJob(
        team_id="T1",
        channel_id="C1",
        requester_id=f"U{i % people:03d}",
        kind=JobKind.TEXT,
        prompt=f"bench clip {i}",
        model="sora-2",
        size="720x1280",
        seconds=seconds,
    )


@contextlib.asynccontextmanager
async def pool_world(
    work: Path, names: Sequence[str], cap: int, scale: float
) -> AsyncIterator[PoolWorld]:
    configs = {
        n: EmulatorConfig(
            api_keys=frozenset({KEY}),
            max_running=cap,
            queue_seconds=QUEUE_SECONDS / scale,
            generation_seconds_per_video_second=PER_VIDEO_SECOND / scale,
            retry_after_seconds=0,
        )
        for n in names
    }
    resources = EmulatorResources(configs)
    async with (
        resources.serve() as urls,
        httpx.AsyncClient(timeout=httpx.Timeout(60.0 / scale + 1, connect=1.0)) as http,
        await Store.open(work / "bot.db") as store,
    ):
        backends = [
            Backend(
                name=n,
                sora=SoraClient(
                    http,
                    base_url=f"{urls[n]}/openai/v1",
                    deployment="sora-2",
                    auth=ApiKeyAuth(KEY),
                    retry=RetryPolicy(attempts=4, base_delay=0.5 / scale, max_delay=8 / scale),
                ),
                max_running=cap,
                host=urls[n],
            )
            for n in names
        ]
        s = scale
        config = RunnerConfig(
            work_dir=work / "work",
            max_running=cap,
            poll=PollPolicy(
                min_interval=1.0 / s,
                max_interval=20.0 / s,
                first_poll=5.0 / s,
                prior_base=20.0 / s,
                prior_per_second=10.0 / s,
            ),
            busy_hold=10.0 / s,
            auth_hold=60.0 / s,
            retry_floor=1.0 / s,
            retry_ceiling=60.0 / s,
            cleanup_interval=30.0 / s,
            tick=5.0 / s,
            reconcile_delay=5.0 / s,
            health=dataclasses.replace(
                HealthPolicy(),
                down_after=30.0 / s,
                recover_after=60.0 / s,
                probe_interval=15.0 / s,
                probe_ceiling=120.0 / s,
                probe_timeout=10.0 / s,
            ),
        )
        notices = Notices()
        out = work / "out"
        runner = JobRunner(store, backends, LocalDirectoryDelivery(out), config, notices=notices)
        await runner.start()
        try:
            yield PoolWorld(resources, store, runner, notices, out)
        finally:
            await runner.stop(grace=1.0)


def pct(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")
