"""Transitions: every change the runner makes to a job, against a real SQLite store.

A move the store refuses changes nothing (not the row, not the files, no one is told);
every change is told exactly once; a failure records its code and its text."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bot.jobs.delivery import Artifacts, Remember
from bot.jobs.outcomes import Outcome
from bot.jobs.transitions import Transitions
from bot.jobs.workfiles import WorkFiles
from bot.store import IllegalTransition, Job, JobKind, JobState, NewJob, StaleState, Store

S = JobState


class Told:
    """A delivery that keeps what it was told, in order."""

    def __init__(self, *, broken: bool = False) -> None:
        self.updates: list[tuple[int, JobState, int, int | None]] = []
        self.broken = broken

    async def job_updated(self, job: Job, queue_position: int | None) -> None:
        self.updates.append((job.id, job.state, job.progress, queue_position))
        if self.broken:
            raise ConnectionError("Slack is down")

    async def deliver(self, job: Job, artifacts: Artifacts, remember: Remember) -> None:
        raise AssertionError("transitions never deliver")

    async def delivered_already(self, job: Job) -> bool:
        raise AssertionError("transitions never ask")

    async def retract(self, job: Job) -> None:
        raise AssertionError("transitions never retract")


@dataclass
class Bench:
    store: Store
    told: Told
    transitions: Transitions
    work: Path
    now: list[float] = field(default_factory=lambda: [1000.0])
    wakes: list[int] = field(default_factory=list)

    async def job(self, job_id: int) -> Job:
        job = await self.store.get_job(job_id)
        assert job is not None
        return job

    async def queued(
        self, prompt: str = "a heron", user: str = "U1", image: Path | None = None
    ) -> Job:
        return await self.store.create_job(
            NewJob(
                team_id="T1",
                channel_id="C1",
                requester_id=user,
                kind=JobKind.TEXT,
                prompt=prompt,
                model="sora-2",
                size="720x1280",
                seconds=4,
                input_image_path=str(image) if image else None,
            )
        )

    def downloads(self, job: Job) -> list[Path]:
        """Put the job's video and thumbnail in the work folder, as a download does."""
        files = self.transitions.files.paths(job)
        paths = [files.video, files.thumbnail or files.video]
        for path in paths:
            path.write_bytes(b"\x00\x00\x00\x18ftypmp42")
        return paths


@pytest.fixture
async def bench(tmp_path: Path) -> AsyncIterator[Bench]:
    work = tmp_path / "work"
    work.mkdir()
    now = [1000.0]
    async with await Store.open(tmp_path / "bot.db", clock=lambda: now[0]) as store:
        told = Told()
        wakes: list[int] = []
        transitions = Transitions(
            store=store,
            delivery=told,
            files=WorkFiles(work),
            clock=lambda: now[0],
            video_ttl=100.0,
            wake=lambda: wakes.append(1),
        )
        yield Bench(store, told, transitions, work, now, wakes)


async def test_a_move_the_life_cycle_forbids_is_refused_and_changes_nothing(
    bench: Bench,
) -> None:
    job = await bench.queued()
    files = bench.downloads(job)
    with pytest.raises(IllegalTransition):
        await bench.transitions.move(job, S.DELIVERED, progress=100)
    assert await bench.job(job.id) == job  # not one field written
    assert bench.told.updates == []
    assert bench.wakes == []
    assert all(p.exists() for p in files)  # a refused end removes no file


async def test_a_move_from_a_state_the_job_left_is_refused_and_changes_nothing(
    bench: Bench, tmp_path: Path
) -> None:
    image = tmp_path / "frame.png"
    image.write_bytes(b"png")
    read = await bench.queued(image=image)
    canceled = await bench.transitions.move(read, S.CANCELED, deleted_by="U1")
    bench.told.updates.clear()
    bench.now[0] += 5
    with pytest.raises(StaleState) as stale:
        await bench.transitions.move(read, S.SUBMITTING, attempts=1)  # admission, too late
    assert stale.value.job.state == S.CANCELED
    assert await bench.job(read.id) == canceled  # attempts, admitted_at, updated_at as they were
    assert bench.told.updates == []
    with pytest.raises(StaleState):
        await bench.transitions.fail(read, Outcome("timeout", "too slow"))
    assert await bench.job(read.id) == canceled
    assert bench.told.updates == []


async def test_every_change_is_told_once_in_order(bench: Bench) -> None:
    first = await bench.queued("first", user="U1")
    second = await bench.queued("second", user="U2")
    await bench.transitions.tell_positions()
    await bench.transitions.tell_positions()  # nothing changed: nothing told again
    assert bench.told.updates == [(first.id, S.QUEUED, 0, 1), (second.id, S.QUEUED, 0, 2)]
    bench.told.updates.clear()

    t = bench.transitions
    job = await t.move(first, S.SUBMITTING, attempts=1)
    job = await t.move(job, S.QUEUED)  # Azure said 429: back, with its last told place
    job = await t.move(job, S.SUBMITTING, attempts=1)
    job = await t.move(job, S.RUNNING, video_id="video_1")
    job = await t.update(job, progress=40)
    assert bench.wakes == []  # queued, submitting, running: no slot was freed
    job = await t.move(job, S.DOWNLOADING, progress=100)
    assert len(bench.wakes) == 1  # it left Azure's slots: admission looks again
    job = await t.move(job, S.UPLOADING)
    job = await t.move(job, S.DELIVERED)
    assert bench.told.updates == [
        (first.id, S.SUBMITTING, 0, None),
        (first.id, S.QUEUED, 0, 1),
        (first.id, S.SUBMITTING, 0, None),
        (first.id, S.RUNNING, 0, None),
        (first.id, S.RUNNING, 40, None),
        (first.id, S.DOWNLOADING, 100, None),
        (first.id, S.UPLOADING, 100, None),
        (first.id, S.DELIVERED, 100, None),
    ]
    assert (await bench.job(first.id)).state == S.DELIVERED


async def test_a_failure_records_its_code_and_text_and_ends_the_job(
    bench: Bench, tmp_path: Path
) -> None:
    image = tmp_path / "frame.png"
    image.write_bytes(b"png")
    job = await bench.queued(image=image)
    job = await bench.transitions.move(job, S.SUBMITTING, attempts=1)
    files = bench.downloads(job)
    outcome = Outcome("download_failed", "The video was made but its download failed.")
    failed = await bench.transitions.fail(job, outcome, cleanup_pending=True)
    stored = await bench.job(job.id)
    assert stored == failed
    assert (stored.state, stored.error_code, stored.error_message) == (
        S.FAILED,
        "download_failed",
        "The video was made but its download failed.",
    )
    assert stored.cleanup_pending  # the extra fields are written with it
    assert bench.told.updates[-1] == (job.id, S.FAILED, 0, None)
    assert len(bench.told.updates) == 2  # submitting, failed
    assert not any(p.exists() for p in files)  # an ended job keeps no download
    assert not image.exists()  # nor its first frame


async def test_a_delivery_that_fails_to_listen_never_stops_a_move(
    bench: Bench, caplog: pytest.LogCaptureFixture
) -> None:
    bench.told.broken = True
    job = await bench.queued()
    with caplog.at_level(logging.INFO, logger="bot.jobs"):
        moved = await bench.transitions.move(job, S.CANCELED, deleted_by="U1")
    assert (await bench.job(job.id)).state == S.CANCELED == moved.state
    assert bench.told.updates == [(job.id, S.CANCELED, 0, None)]
    assert any("progress report failed" in r.getMessage() for r in caplog.records)
    moves = [r.getMessage() for r in caplog.records if "->" in r.getMessage()]
    assert moves == [f"job {job.id} queued -> canceled video=- elapsed=0.0s"]  # logged once


async def test_a_video_expires_its_ttl_after_submission(bench: Bench) -> None:
    job = await bench.queued()
    job = await bench.transitions.move(job, S.SUBMITTING, attempts=1, submitted_at=1010.0)
    bench.now[0] = 1110.0  # exactly the ttl (100 s) after submission: still there
    assert not bench.transitions.expired(job)
    assert bench.transitions.expired(job, margin=10.0)  # too close to expiry to remix
    bench.now[0] = 1110.5
    assert bench.transitions.expired(job)
