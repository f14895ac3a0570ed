"""A runner wired to a real emulator on loopback, a real SQLite file and a local delivery.

Timings are real but fast: a 4 s video takes about 0.25 s, polls are 20 ms apart at least.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bot.emulator import Emulator, EmulatorConfig
from bot.jobs import JobRunner, LocalDirectoryDelivery, PollPolicy, RunnerConfig
from bot.sora import ApiKeyAuth, RetryPolicy, SoraClient
from bot.store import Job, JobKind, JobState, NewJob, Store

FAST_POLL = PollPolicy(min_interval=0.02, max_interval=0.2, prior_base=0.1, prior_per_second=0.03)


def fast_emulator_config(**overrides: Any) -> EmulatorConfig:
    config = EmulatorConfig(
        queue_seconds=0.05, generation_seconds_per_video_second=0.05, retry_after_seconds=0
    )
    for key, value in overrides.items():
        setattr(config, key, value)
    return config


def fast_runner_config(work_dir: Path, **overrides: Any) -> RunnerConfig:
    base: dict[str, Any] = dict(
        work_dir=work_dir,
        poll=FAST_POLL,
        busy_hold=0.05,
        auth_hold=0.1,
        retry_floor=0.01,
        retry_ceiling=0.05,
        cleanup_interval=0.05,
        tick=0.05,
        reconcile_delay=0.05,
    )
    base.update(overrides)
    return RunnerConfig(**base)


@dataclass
class Rig:
    emulator: Emulator
    store: Store
    sora: SoraClient
    runner: JobRunner
    delivery: LocalDirectoryDelivery
    out: Path
    work: Path
    updates: list[tuple[int, JobState, int, int | None]] = field(default_factory=list)

    def new(self, prompt: str = "a corgi surfing", user: str = "U1", **kw: Any) -> NewJob:
        base: dict[str, Any] = dict(
            team_id="T1",
            channel_id="C1",
            requester_id=user,
            kind=JobKind.TEXT,
            prompt=prompt,
            model="sora-2",
            size="720x1280",
            seconds=4,
        )
        base.update(kw)
        return NewJob(**base)

    async def job(self, job_id: int) -> Job:
        job = await self.store.get_job(job_id)
        assert job is not None
        return job

    def creates(self) -> list[str]:
        """Prompts of the videos the emulator made, in creation order."""
        return [v.prompt for v in self.emulator.videos.values()]  # type: ignore[misc]


@contextlib.asynccontextmanager
async def make_rig(
    tmp_path: Path,
    *,
    emulator_config: EmulatorConfig | None = None,
    start: bool = True,
    **runner_overrides: Any,
) -> AsyncIterator[Rig]:
    emulator = Emulator(emulator_config or fast_emulator_config())
    out, work = tmp_path / "out", tmp_path / "work"
    async with (
        emulator.serve() as base,
        httpx.AsyncClient(timeout=10) as http,
        await Store.open(tmp_path / "bot.db") as store,
    ):
        sora = SoraClient(
            http,
            base_url=f"{base}/openai/v1",
            deployment="sora-2",
            auth=ApiKeyAuth("emulator-key"),
            retry=RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05),
        )
        updates: list[tuple[int, JobState, int, int | None]] = []
        delivery = LocalDirectoryDelivery(
            out, on_update=lambda job, pos: updates.append((job.id, job.state, job.progress, pos))
        )
        runner = JobRunner(store, sora, delivery, fast_runner_config(work, **runner_overrides))
        rig = Rig(emulator, store, sora, runner, delivery, out, work, updates)
        try:
            if start:
                await runner.start()
            yield rig
        finally:
            await runner.stop(grace=1.0)
