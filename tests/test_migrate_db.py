"""``sora-bot migrate-db``: an existing SQLite store copied into PostgreSQL, run as a user
runs it (a real subprocess), then read back through the PostgreSQL store."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

from pg import PASSWORD
from test_cli import BOT, clean_env

from bot.store import JobKind, JobState, NewJob, Store

S = JobState


def new(i: int, **overrides: object) -> NewJob:
    base: dict[str, object] = dict(
        team_id="T1", channel_id="C1", requester_id=f"U{i % 3}", kind=JobKind.TEXT,
        prompt=f"clip {i} — 🐶 'quoted' %s ?", model="sora-2", size="720x1280", seconds=4,
    )  # fmt: skip
    base.update(overrides)
    return NewJob(**base)  # type: ignore[arg-type]


async def fill(path: Path) -> list[object]:
    """A SQLite store with jobs in many states, a remix chain with cards and labels, flags,
    a dedupe key, and event keys; returns every job as the store reads it."""
    clock = iter(float(1_000_000 + n) for n in range(10_000))
    async with await Store.open(path, clock=lambda: next(clock)) as s:
        parent = await s.create_job(new(0, thread_ts="100.1", channel_public=True))
        await s.set_card(parent.id, card_ts="100.1")
        for to in (S.SUBMITTING, S.RUNNING, S.DOWNLOADING, S.UPLOADING, S.DELIVERED):
            await s.transition(parent.id, to)
        await s.update_job(parent.id, video_id="video_1", slack_file_id="F1", card_shown="x")
        remix = await s.create_job(
            new(1, kind=JobKind.REMIX, parent_job_id=parent.id, parent_video_id="video_1",
                thread_ts="100.1", dedupe_key="ev-remix")
        )  # fmt: skip
        await s.set_card(remix.id, card_ts="100.2", thread_ts="100.1")
        failed = await s.create_job(new(2))
        await s.transition(failed.id, S.FAILED, error_code="moderation", error_message="no")
        await s.transition(failed.id, S.DELETED, deleted_by="U9", cleanup_pending=True)
        canceled = await s.create_job(new(3))
        await s.transition(canceled.id, S.SUBMITTING)
        await s.transition(canceled.id, S.CANCELED)
        for i in range(4, 40):
            await s.create_job(new(i))
        await s.set_notices("U1", False)  # a person's choice, and what a job already told
        assert await s.claim_mention(parent.id, "F1")
        await s.set_thumbnail(parent.id, "F_THUMB")
        assert await s.claim_failure_notice(failed.id)
        jobs = list(await s.jobs_in_states(*JobState))
    async with await Store.open(path) as s:  # event keys expire by the real clock
        assert await s.claim_event("Ev1")
        assert await s.claim_event("Ev2")
    return jobs


def migrate(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*BOT, "migrate-db", *args], cwd=tmp_path, env=env or clean_env(tmp_path),
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_migrate_db_copies_every_job_and_new_ids_continue(tmp_path: Path, pg_url: str) -> None:
    db = tmp_path / "bot.db"
    before = asyncio.run(fill(db))
    assert len(before) == 40

    # The URL from the environment (as `run` reads it), not the command line.
    env = clean_env(tmp_path) | {"SORA_DB_PATH": str(db), "SORA_DATABASE_URL": pg_url}
    done = migrate(tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert "copied 40 job(s) and 2 event key(s)" in done.stdout
    assert "new jobs continue at id 41" in done.stdout
    assert PASSWORD not in done.stdout + done.stderr

    async def read_back() -> None:
        async with await Store.open_postgres(pg_url) as pg:
            assert list(await pg.jobs_in_states(*JobState)) == before  # every field, every id
            assert await pg.jobs_in_thread("C1", "100.1") == [before[0], before[1]]
            assert await pg.claim_event("Ev1") is False  # the event keys came along
            assert await pg.wants_notices("U1") is False  # settings and notices too:
            assert await pg.wants_notices("U2") is True
            assert await pg.claim_mention(before[0].id, "F2") is False  # nobody told twice
            assert await pg.claim_failure_notice(before[2].id) is False
            assert await pg.thumbnails([before[0].id, before[1].id]) == {before[0].id: "F_THUMB"}
            fresh = await pg.create_job(new(99))
            assert fresh.id == 41
            assert (
                await pg.set_card(before[3].id, card_ts="100.3", thread_ts="100.1")
            ).version_label == "v3"

    asyncio.run(read_back())

    # Again: the target has jobs now, so nothing is copied (and nothing doubled).
    again = migrate(tmp_path, "--from", str(db), "--to", pg_url)
    assert again.returncode == 1
    assert "already has 41 job(s)" in again.stderr
    assert PASSWORD not in again.stderr
    assert "Traceback" not in again.stderr


def test_migrate_db_refuses_clearly(tmp_path: Path, pg_url: str) -> None:
    missing = migrate(tmp_path, "--from", str(tmp_path / "nope.db"), "--to", pg_url)
    assert (missing.returncode, missing.stdout) == (1, "")
    assert f"no SQLite file at {tmp_path / 'nope.db'}" in missing.stderr
    assert not (tmp_path / "nope.db").exists()  # never created
    no_target = migrate(tmp_path, "--from", str(tmp_path / "nope.db"))
    assert no_target.returncode == 2
    assert "give --to URL or set SORA_DATABASE_URL" in no_target.stderr
    wrong = migrate(tmp_path, "--to", "mysql://u:hunter22@h/db")
    assert wrong.returncode == 2
    assert "hunter22" not in wrong.stderr
    for result in (missing, no_target, wrong):
        assert "Traceback" not in result.stderr
