"""1,000 jobs changing state while 20 people (and an admin) watch their Home tabs:
``views.publish`` stays inside Slack's Tier 4 budget (the fake answers 429 past 100 a
minute), publishes are coalesced per person (far fewer than the state changes), progress
ticks publish nothing, and every Home ends showing the jobs' final states."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
import time
from pathlib import Path

from fakes.slack import FakeSlack
from slack_sdk.web.async_client import AsyncWebClient
from slackrig import until

from bot.config import Settings
from bot.slack.cards import Cards
from bot.slack.home import HomePublisher
from bot.slack.intake.home import HomeDesk
from bot.slack.intake.rules import Rules
from bot.store import Job, JobState, Store

S = JobState
JOBS = 1000
USERS = [f"U{n:03d}" for n in range(20)]
ADMIN = "UADMIN"
PATH = (S.QUEUED, S.SUBMITTING, S.RUNNING, S.DOWNLOADING, S.UPLOADING, S.DELIVERED)


def insert_jobs(db: Path) -> None:
    now = time.time()
    rows = [
        (f"{i}.000100", USERS[i % len(USERS)], f"video {i}", now + i) for i in range(1, JOBS + 1)
    ]
    conn = sqlite3.connect(db)
    with conn:
        conn.executemany(
            "INSERT INTO jobs (team_id, channel_id, thread_ts, card_ts, requester_id, kind,"
            " prompt, model, size, seconds, state, progress, created_at, updated_at,"
            " version_label, channel_public) VALUES ('T1', 'C1', ?1, ?1, ?2, 'text', ?3,"
            " 'sora-2', '720x1280', 4, 'delivered', 100, ?4, ?4, 'v1', 1)",
            rows,
        )
    conn.close()


async def test_a_thousand_jobs_keep_views_publish_within_tier_4(tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    fake = FakeSlack(member_channels={"C1"}, clock=time.monotonic)
    for user in [*USERS, ADMIN]:
        fake.add_user(user)
    async with fake.serve() as api_url, await Store.open(db) as store:
        insert_jobs(db)  # delivered in the store: what every Home must end up showing
        jobs = [j for u in USERS for j in await store.recent_jobs_for_user(u, limit=JOBS)]
        client = AsyncWebClient(token="xoxb-test", base_url=api_url)
        settings = Settings(admin_user_ids=frozenset({ADMIN}))
        desk = HomeDesk(
            store=store,
            rules=Rules(settings=settings, clock=time.time),
            cards=Cards(client, store),
            runner=None,  # type: ignore[arg-type]  # no button is pressed here
            remixer=None,  # type: ignore[arg-type]
        )
        home = HomePublisher(client, admins=frozenset({ADMIN}), per_minute=80)
        home.source = lambda user, offset, url: desk.page(user, offset=offset, workspace_url=url)
        await home.start()
        try:
            for user in [*USERS, ADMIN]:
                home.opened(user)
            started = time.monotonic()
            last_change: dict[str, float] = {}
            changes = await replay(home, jobs, last_change)
            fed = time.monotonic() - started

            async def caught_up() -> bool:  # each watcher published after its last change
                times = {}
                for c in fake.calls_to("views.publish"):
                    times[c.args["user_id"]] = c.time
                return all(times.get(u, 0) >= t for u, t in last_change.items())

            await until(caught_up, 60, "a Home was never published after its last change")
            await until(lambda: _idle(home), 10, "publishes still waiting")
            elapsed = time.monotonic() - started
            calls = fake.calls_to("views.publish")
            running = dataclasses.replace(jobs[0], state=S.RUNNING, progress=10)
            home.job_changed(running)  # a state change: one publish for its watchers
            await until(lambda: _idle(home), 10, "publishes still waiting")
            for progress in range(11, 100):  # progress ticks alone publish nothing
                home.job_changed(dataclasses.replace(running, progress=progress))
            assert home.pending == 0
        finally:
            await home.stop()
        times = [c.time for c in fake.calls_to("views.publish")]
        busiest = max(len([t for t in times if s <= t < s + 60]) for s in times)
        print(
            f"\n{JOBS} jobs, {changes} updates ({JOBS * len(PATH)} state changes) fed in"
            f" {fed:.1f}s; {len(calls)} views.publish in {elapsed:.1f}s for"
            f" {len(USERS) + 1} watchers; at most {busiest} in any minute"
        )
        assert busiest <= 100  # Tier 4
        assert len(calls) <= 5 + 80 * elapsed / 60 + 1  # the burst, then 80 a minute
        assert len(calls) < changes / 20  # coalesced per person
        for user in USERS:  # built from the store when sent: the final states
            last = fake.home_of(user)
            assert last is not None
            assert "Showing 1–10 of 50" in str(last)
        assert "Admin: the whole queue" in str(fake.home_of(ADMIN))


async def replay(home: HomePublisher, jobs: list[Job], last: dict[str, float]) -> int:
    """Every job through its states, with 4 progress ticks while running; the job
    objects as the runner would tell them (the store already holds the end)."""
    told = 0
    for step in PATH:
        for job in jobs:
            ticks = (0, 25, 50, 75, 100) if step == S.RUNNING else (0,)
            for progress in ticks:
                home.job_changed(dataclasses.replace(job, state=step, progress=progress))
                told += 1
            last[job.requester_id] = last[ADMIN] = time.monotonic()
        await asyncio.sleep(0.2)  # the throttle sends meanwhile
    return told


async def _idle(home: HomePublisher) -> bool:
    return home.pending == 0 and home.throttle.sent > 0
