"""The job store, against real SQLite files (no mocks)."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from collections import deque
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from conftest import OpenStore

from bot.store import (
    ALLOWED_TRANSITIONS,
    LATEST_VERSION,
    MIGRATIONS,
    TERMINAL,
    UNFINISHED,
    DuplicateJob,
    IllegalTransition,
    Job,
    JobKind,
    JobNotFound,
    JobState,
    NewJob,
    StaleState,
    Store,
    StoreError,
)
from bot.store.schema import connect

S = JobState


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "bot.db"


@pytest.fixture
async def store(open_store_here: OpenStore, clock: Clock) -> AsyncIterator[Store]:
    """A Store on SQLite, then on PostgreSQL (every test that takes it runs on both)."""
    async with await open_store_here(clock=clock) as s:
        yield s


def new(**overrides: Any) -> NewJob:
    base: dict[str, Any] = dict(
        team_id="T1",
        channel_id="C1",
        requester_id="U1",
        kind=JobKind.TEXT,
        prompt="a corgi surfing",
        model="sora-2",
        size="720x1280",
        seconds=4,
    )
    base.update(overrides)
    return NewJob(**base)


def some(job: Job | None) -> Job:
    assert job is not None
    return job


def path_to(target: JobState) -> list[JobState]:
    """Shortest sequence of allowed moves from queued to ``target``."""
    paths: dict[JobState, list[JobState]] = {S.QUEUED: []}
    todo = deque([S.QUEUED])
    while todo:
        state = todo.popleft()
        for nxt in sorted(ALLOWED_TRANSITIONS[state]):
            if nxt not in paths:
                paths[nxt] = [*paths[state], nxt]
                todo.append(nxt)
    return paths[target]


async def job_in(
    store: Store, state: JobState, video_id: str | None = None, **overrides: Any
) -> Job:
    job = await store.create_job(new(**overrides))
    if video_id is not None:
        await store.update_job(job.id, video_id=video_id)
    for step in path_to(state):
        job = await store.transition(job.id, step)
    return job


def sql(path: Path, query: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(query).fetchall()
    finally:
        conn.close()


# -- opening and migrations ---------------------------------------------------------------


async def test_open_creates_directory_file_and_latest_schema(db_path: Path) -> None:
    assert not await asyncio.to_thread(db_path.parent.exists)
    async with await Store.open(db_path):
        pass
    assert await asyncio.to_thread(db_path.is_file)
    assert sql(db_path, "SELECT COUNT(*) FROM jobs") == [(0,)]
    assert sql(db_path, "PRAGMA user_version") == [(LATEST_VERSION,)]
    assert LATEST_VERSION >= 8  # v8: held requests (renumbered at merges; never pinned)
    assert len(MIGRATIONS) == LATEST_VERSION
    assert sql(db_path, "PRAGMA journal_mode") == [("wal",)]


async def test_opening_twice_is_a_no_op(db_path: Path, clock: Clock) -> None:
    async with await Store.open(db_path, clock=clock) as s:
        job = await s.create_job(new())
    schema = sql(db_path, "SELECT type, name, sql FROM sqlite_master ORDER BY name")
    async with await Store.open(db_path, clock=clock) as s:
        assert await s.get_job(job.id) == job
    assert sql(db_path, "SELECT type, name, sql FROM sqlite_master ORDER BY name") == schema
    assert sql(db_path, "PRAGMA user_version") == [(LATEST_VERSION,)]


async def test_concurrent_first_opens_migrate_once(tmp_path: Path) -> None:
    # Several openers of one new file at once (say `sora-bot check` beside `run`): the
    # switch to WAL must wait for the others, not fail with 'database is locked'.
    for round_ in range(10):
        db_path = tmp_path / f"round-{round_}" / "bot.db"
        stores = await asyncio.gather(*(Store.open(db_path) for _ in range(8)))
        try:
            ids = [(await s.create_job(new())).id for s in stores]
        finally:
            for s in stores:
                await s.close()
        assert sorted(ids) == list(range(1, 9))
        assert sql(db_path, "PRAGMA user_version") == [(LATEST_VERSION,)]


async def test_migrates_a_v1_file_and_backfills(db_path: Path) -> None:
    conn = await connect(db_path, version=1)
    try:
        rows = [  # (state, video_id, submitted_at, delivered_at, error_code)
            ("queued", None, None, None, None),
            ("delivered", "vid_1", 10.0, 20.0, None),
            ("deleted", "vid_2", 11.0, 21.0, None),
            ("deleted", None, None, None, "moderation_blocked"),
            ("canceled", None, None, None, None),
        ]
        for state, video_id, submitted, delivered, error in rows:
            await conn.execute(
                "INSERT INTO jobs (team_id, channel_id, requester_id, kind, prompt, model,"
                " size, seconds, state, video_id, submitted_at, delivered_at, error_code,"
                " created_at, updated_at) VALUES ('T', 'C', 'U', 'text', 'p', 'sora-2',"
                " '720x1280', 4, ?, ?, ?, ?, ?, 1.0, 2.0)",
                (state, video_id, submitted, delivered, error),
            )
    finally:
        await conn.close()
    assert sql(db_path, "PRAGMA user_version") == [(1,)]

    async with await Store.open(db_path) as s:
        jobs = await s.jobs_in_states(*JobState)
    assert sql(db_path, "PRAGMA user_version") == [(LATEST_VERSION,)]
    assert not any(j.cleanup_pending for j in jobs)
    assert [(j.state, j.admitted_at, j.deleted_from) for j in jobs] == [
        (S.QUEUED, None, None),
        (S.DELIVERED, 10.0, None),
        (S.DELETED, 11.0, S.DELIVERED),
        (S.DELETED, None, S.FAILED),
        (S.CANCELED, None, None),
    ]


async def test_refuses_a_newer_schema(db_path: Path) -> None:
    async with await Store.open(db_path):
        pass
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(StoreError, match="newer"):
        await Store.open(db_path)


async def test_reopen_keeps_every_field(open_store_here: OpenStore, clock: Clock) -> None:
    async with await open_store_here(clock=clock) as s:
        parent = await job_in(s, S.DELIVERED, video_id="video_parent")
        job = await s.create_job(
            new(
                kind=JobKind.REMIX,
                thread_ts="111.222",
                input_image_path="/tmp/in.png",
                parent_job_id=parent.id,
                parent_video_id="video_parent",
                dedupe_key="trigger-1",
                seconds=12,
                size="1280x720",
                channel_public=True,
                function_execution_id="Fx1",
            )
        )
        await s.set_card(job.id, card_ts="111.333", thread_ts="111.222")
        await s.update_job(job.id, function_done_at=4.5, variant_group="g1")
        clock.now += 5
        await s.transition(job.id, S.SUBMITTING, attempts=1, backend="east")
        await s.transition(
            job.id, S.RUNNING, video_id="video_2", submitted_at=1.5, moved_from="sweden"
        )
        await s.update_job(
            job.id, progress=42, completed_at=2.5, cancel_requested=True, deleted_by="U9",
            completion_sent_at=3.5,
        )  # fmt: skip
        await s.transition(job.id, S.FAILED, error_code="timeout", error_message="too slow")
        before = await s.transition(
            job.id, S.DELETED, slack_file_id="F1", video_message_ts="9.9", cleanup_pending=True
        )
    async with await open_store_here(clock=clock) as s:
        after = await s.get_job(job.id)
    assert after == before
    assert dataclasses.asdict(before) | {"id": 0} == {
        "id": 0, "team_id": "T1", "channel_id": "C1", "thread_ts": "111.222",
        "card_ts": "111.333", "requester_id": "U1", "kind": JobKind.REMIX,
        "prompt": "a corgi surfing", "model": "sora-2", "size": "1280x720", "seconds": 12,
        "input_image_path": "/tmp/in.png", "parent_job_id": parent.id,
        "parent_video_id": "video_parent", "video_id": "video_2", "state": S.DELETED,
        "progress": 42, "error_code": "timeout", "error_message": "too slow",
        "created_at": 1_000_000.0, "updated_at": 1_000_005.0, "submitted_at": 1.5,
        "completed_at": 2.5, "delivered_at": None, "attempts": 1, "slack_file_id": "F1",
        "video_message_ts": "9.9", "version_label": "v1", "cancel_requested": True,
        "deleted_by": "U9", "dedupe_key": "trigger-1", "cleanup_pending": True, "card_shown": None,
        "completion_sent_at": 3.5, "card_digest": None,
        "admitted_at": 1_000_005.0,
        "deleted_from": S.FAILED, "channel_public": True,
        "function_execution_id": "Fx1", "function_done_at": 4.5, "variant_group": "g1",
        "backend": "east", "moved_from": "sweden",
    }  # fmt: skip


# -- transitions ----------------------------------------------------------------------------


def test_transition_table_shape() -> None:
    assert set(ALLOWED_TRANSITIONS) == set(JobState)
    assert frozenset({S.QUEUED, S.SUBMITTING, S.RUNNING, S.DOWNLOADING, S.UPLOADING}) == (
        UNFINISHED
    )
    assert frozenset({S.DELIVERED, S.FAILED, S.CANCELED, S.DELETED}) == TERMINAL
    assert ALLOWED_TRANSITIONS[S.DELETED] == frozenset()
    assert all(state not in targets for state, targets in ALLOWED_TRANSITIONS.items())
    assert [str(s) for s in JobState][:2] == ["queued", "submitting"]
    assert [str(k) for k in JobKind] == ["text", "image", "remix"]


@pytest.mark.parametrize(
    ("start", "to"), [(a, b) for a in JobState for b in JobState], ids=lambda s: str(s)
)
async def test_every_pair_of_states(store: Store, start: JobState, to: JobState) -> None:
    job = await job_in(store, start)
    if to in ALLOWED_TRANSITIONS[start]:
        moved = await store.transition(job.id, to, expect=start)
        assert moved.state is to
        assert await store.get_job(job.id) == moved
    else:
        with pytest.raises(IllegalTransition) as err:
            await store.transition(job.id, to)
        assert (err.value.job, err.value.to) == (job, to)
        assert await store.get_job(job.id) == job  # nothing written


async def test_expect_mismatch_raises_stale_state(store: Store) -> None:
    job = await job_in(store, S.RUNNING)
    with pytest.raises(StaleState) as err:
        await store.transition(job.id, S.CANCELED, expect=S.QUEUED)
    assert err.value.job == job
    with pytest.raises(StaleState):
        await store.transition(job.id, S.CANCELED, expect={S.QUEUED, S.SUBMITTING})
    moved = await store.transition(job.id, S.CANCELED, expect=[S.QUEUED, S.RUNNING])
    assert moved.state is S.CANCELED


async def test_bad_fields_and_missing_jobs(store: Store) -> None:
    job = await store.create_job(new())
    with pytest.raises(TypeError, match="unknown"):
        await store.transition(job.id, S.SUBMITTING, colour="red")
    with pytest.raises(TypeError, match="unknown"):
        await store.update_job(job.id, progres=3)
    with pytest.raises(TypeError, match="state"):
        await store.update_job(job.id, state=S.RUNNING)
    for managed in ("id", "created_at", "updated_at", "admitted_at", "deleted_from"):
        with pytest.raises(TypeError, match="kept by the store"):
            await store.update_job(job.id, **{managed: 1})
    for bad in (-1, 101, 5.5, True):
        with pytest.raises(ValueError, match="progress"):
            await store.update_job(job.id, progress=bad)
    assert await store.get_job(job.id) == job
    assert await store.update_job(job.id) == job
    for call in (
        store.transition(999, S.SUBMITTING),
        store.update_job(999, progress=1),
        store.increment_attempts(999),
        store.set_card(999, card_ts="1.1"),
        store.create_job(new(kind=JobKind.REMIX, parent_job_id=999)),
    ):
        with pytest.raises(JobNotFound):
            await call
    assert await store.get_job(999) is None
    with pytest.raises(ValueError, match="seconds"):
        await store.create_job(new(seconds=0))


async def test_store_keeps_its_own_stamps(store: Store, clock: Clock) -> None:
    job = await store.create_job(new())
    clock.now += 1
    job = await store.transition(job.id, S.SUBMITTING)
    assert (job.admitted_at, job.updated_at) == (clock.now, clock.now)
    job = await store.transition(job.id, S.QUEUED)  # 429: back in line, not served
    assert job.admitted_at is None
    job = await store.transition(job.id, S.SUBMITTING)
    for step in (S.RUNNING, S.DOWNLOADING, S.UPLOADING):
        job = await store.transition(job.id, step)
    clock.now += 1
    job = await store.transition(job.id, S.DELIVERED)
    assert job.delivered_at == clock.now
    job = await store.transition(job.id, S.DELETED, deleted_by="U2")
    assert (job.deleted_from, job.deleted_by) == (S.DELIVERED, "U2")
    other = await job_in(store, S.UPLOADING)
    assert (await store.transition(other.id, S.DELIVERED, delivered_at=5.0)).delivered_at == 5.0


# -- concurrency ----------------------------------------------------------------------------


async def test_concurrent_increments_across_two_connections(open_store_here: OpenStore) -> None:
    async with await open_store_here() as one, await open_store_here() as two:
        job = await one.create_job(new())
        await asyncio.gather(
            *(s.increment_attempts(job.id) for _ in range(40) for s in (one, two)),
            *(s.update_job(job.id, progress=n % 100) for n in range(20) for s in (one, two)),
        )
        assert some(await two.get_job(job.id)).attempts == 80


async def test_only_one_of_many_racing_transitions_wins(open_store_here: OpenStore) -> None:
    async with await open_store_here() as one, await open_store_here() as two:
        job = await one.create_job(new())
        results = await asyncio.gather(
            *(
                s.transition(job.id, S.SUBMITTING, expect=S.QUEUED)
                for _ in range(10)
                for s in (one, two)
            ),
            return_exceptions=True,
        )
    winners = [r for r in results if isinstance(r, Job)]
    assert len(winners) == 1
    assert all(isinstance(r, StaleState) for r in results if not isinstance(r, Job))


async def test_concurrent_set_card_never_repeats_a_label(open_store_here: OpenStore) -> None:
    async with await open_store_here() as one, await open_store_here() as two:
        jobs = [await one.create_job(new(thread_ts="100.1")) for _ in range(20)]
        carded = await asyncio.gather(
            *(
                (one, two)[i % 2].set_card(job.id, card_ts=f"200.{i}", thread_ts="100.1")
                for i, job in enumerate(jobs)
            )
        )
        again = await one.set_card(jobs[0].id, card_ts="300.1", thread_ts="100.1")
        labels = {j.version_label for j in await two.jobs_in_thread("C1", "100.1")}
    assert labels == {f"v{n}" for n in range(1, 21)}
    assert again.version_label == carded[0].version_label  # a job keeps its label


async def test_cancelled_task_leaves_connection_usable(store: Store) -> None:
    job = await store.create_job(new())
    tasks = [asyncio.create_task(store.increment_attempts(job.id)) for _ in range(30)]
    await asyncio.sleep(0)
    for task in tasks[::2]:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    done = await store.increment_attempts(job.id)
    assert 16 <= done.attempts <= 31
    assert (await store.transition(job.id, S.SUBMITTING)).state is S.SUBMITTING


# -- the queue ------------------------------------------------------------------------------


async def test_fair_round_robin(store: Store) -> None:
    by_name: dict[int, str] = {}
    for user, count in (("A", 3), ("B", 2), ("C", 1)):
        for n in range(1, count + 1):
            by_name[(await store.create_job(new(requester_id=user))).id] = f"{user}{n}"
    order = [by_name[j.id] for j in await store.next_jobs_to_admit(10)]
    assert order == ["A1", "B1", "C1", "A2", "B2", "A3"]
    assert [by_name[j.id] for j in await store.next_jobs_to_admit(2)] == ["A1", "B1"]
    assert await store.next_jobs_to_admit(0) == []
    positions = await store.queue_positions()
    assert sorted(positions, key=positions.__getitem__) == [
        next(i for i, name in by_name.items() if name == want) for want in order
    ]
    assert await store.count_queued_for_user("A") == 3


async def test_fifo_within_a_user_when_interleaved(store: Store) -> None:
    names: dict[int, str] = {}
    for name in ("B1", "A1", "B2", "C1", "A2", "B3"):
        names[(await store.create_job(new(requester_id=name[0]))).id] = name
    order = [names[j.id] for j in await store.next_jobs_to_admit(10)]
    assert order == ["B1", "A1", "C1", "B2", "A2", "B3"]


async def test_least_recently_served_user_goes_first(store: Store, clock: Clock) -> None:
    a = [await store.create_job(new(requester_id="A")) for _ in range(3)]
    b = await store.create_job(new(requester_id="B"))
    clock.now += 1
    await store.transition(a[0].id, S.SUBMITTING)  # A was just served
    assert [j.id for j in await store.next_jobs_to_admit(3)] == [b.id, a[1].id, a[2].id]
    await store.transition(b.id, S.SUBMITTING)
    await store.transition(b.id, S.QUEUED)  # 429: B's job keeps its place
    assert [j.id for j in await store.next_jobs_to_admit(1)] == [b.id]


async def test_remix_waits_for_its_parent(store: Store) -> None:
    parent = await job_in(store, S.RUNNING, requester_id="A")
    remix = await store.create_job(
        new(requester_id="B", kind=JobKind.REMIX, parent_job_id=parent.id)
    )
    plain = await store.create_job(new(requester_id="B"))
    assert [j.id for j in await store.next_jobs_to_admit(5)] == [plain.id]
    assert await store.queue_positions() == {plain.id: 1, remix.id: 2}
    assert await store.blocked_remixes() == []
    for step in (S.DOWNLOADING, S.UPLOADING, S.DELIVERED):
        await store.transition(parent.id, step)
    assert [j.id for j in await store.next_jobs_to_admit(5)] == [remix.id, plain.id]
    await store.transition(parent.id, S.DELETED)
    assert [j.id for j in await store.blocked_remixes()] == [remix.id]


async def test_state_queries(store: Store) -> None:
    queued = await job_in(store, S.QUEUED)
    running = await job_in(store, S.RUNNING, requester_id="U2")
    delivered = await job_in(store, S.DELIVERED)
    uploading = await job_in(store, S.UPLOADING)
    assert [j.id for j in await store.jobs_to_resume()] == [queued.id, running.id, uploading.id]
    assert await store.count_in_state(S.RUNNING, S.DELIVERED) == 2
    assert await store.count_in_state() == 0
    assert [j.id for j in await store.jobs_in_states(S.DELIVERED)] == [delivered.id]
    assert [j.id for j in await store.recent_jobs_for_user("U1", limit=2)] == [
        uploading.id,
        delivered.id,
    ]


# -- threads and messages -------------------------------------------------------------------


async def test_thread_queries(store: Store) -> None:
    v1 = await job_in(store, S.DELIVERED, video_id="vid-1")
    await store.set_card(v1.id, card_ts="10.0")  # the card is the thread root
    v2 = await job_in(store, S.FAILED, thread_ts="10.0")
    v3 = await job_in(store, S.DELIVERED, thread_ts="10.0", video_id="vid-3")
    v4 = await job_in(store, S.RUNNING, thread_ts="10.0")
    for job, card in ((v2, "10.2"), (v3, "10.3"), (v4, "10.4")):
        await store.set_card(job.id, card_ts=card, thread_ts="10.0")
    await store.update_job(v3.id, video_message_ts="10.5")
    other = await job_in(store, S.DELIVERED, channel_id="C2")
    await store.set_card(other.id, card_ts="10.0")

    assert [j.id for j in await store.jobs_in_thread("C1", "10.0")] == [v1.id, v2.id, v3.id, v4.id]
    assert some(await store.latest_delivered_in_thread("C1", "10.0")).id == v3.id
    assert await store.latest_delivered_in_thread("C1", "99.9") is None
    assert some(await store.job_by_version("C1", "10.0", "V2")).id == v2.id
    assert some(await store.job_by_version("C2", "10.0", "v1")).id == other.id
    assert await store.job_by_version("C1", "10.0", "v9") is None
    assert some(await store.find_by_message("C1", "10.3")).id == v3.id
    assert some(await store.find_by_message("C1", "10.5")).id == v3.id
    assert some(await store.find_by_message("C2", "10.0")).id == other.id
    assert await store.find_by_message("C3", "10.0") is None
    assert some(await store.find_by_video_id("vid-3")).id == v3.id
    assert await store.find_by_video_id("nope") is None


# -- dedupe ---------------------------------------------------------------------------------


async def test_claim_event_and_expiry(store: Store, clock: Clock) -> None:
    assert await store.claim_event("Ev1") is True
    assert await store.claim_event("Ev1") is False
    assert await store.claim_event("Ev2", ttl_seconds=10) is True
    clock.now += 10
    assert await store.claim_event("Ev2", ttl_seconds=10) is True  # expired, claimable again
    assert await store.claim_event("Ev1") is False  # still inside its hour
    clock.now += 3600
    assert await store.claim_event("Ev1") is True
    with pytest.raises(ValueError, match="ttl"):
        await store.claim_event("Ev3", ttl_seconds=0)


async def test_claim_event_is_atomic_across_connections(open_store_here: OpenStore) -> None:
    async with await open_store_here() as one, await open_store_here() as two:
        results = await asyncio.gather(
            *(s.claim_event("same") for _ in range(10) for s in (one, two))
        )
    assert results.count(True) == 1


async def test_duplicate_dedupe_key(store: Store) -> None:
    first = await store.create_job(new(dedupe_key="trigger-9"))
    with pytest.raises(DuplicateJob) as err:
        await store.create_job(new(dedupe_key="trigger-9", prompt="other"))
    assert err.value.job == first
    assert await store.create_job_once(new(dedupe_key="trigger-9")) == (first, False)
    second, created = await store.create_job_once(new(dedupe_key="trigger-10"))
    assert created
    assert second.id != first.id
    assert (await store.create_job(new())).dedupe_key is None  # many jobs without a key
    assert (await store.create_job(new())).dedupe_key is None


# -- text round-trips -----------------------------------------------------------------------

TEXTS = [
    "it's a \"quoted\" 'prompt'",
    "back\\slash \\n \\\\ %s %(x)s {0} ?",
    "emoji 🐶🏄‍♀️ family 👨‍👩‍👧‍👦 flag 🏳️‍🌈 skin 👍🏽",
    "עברית עם מספרים 123 ועוד — العربية\u200f",
    "'); DROP TABLE jobs; --",
    "\x01\x02\x7f\ufffd ÿþ \x1b[31m red \r\n\t end",
    "z̷̢̛͓a̶l̸g̵o̴ \u200b\u2060\ufeff",
    "x" * 32_000,
]


@pytest.mark.parametrize("text", TEXTS, ids=range(len(TEXTS)))
async def test_text_round_trips_verbatim(open_store_here: OpenStore, text: str) -> None:
    async with await open_store_here() as s:
        job = await s.create_job(new(prompt=text, requester_id=text[:50], thread_ts=text))
        await s.transition(job.id, S.FAILED, error_code=text[:20], error_message=text)
    async with await open_store_here() as s:
        got = await s.get_job(job.id)
        assert got is not None
        assert (got.prompt, got.requester_id, got.thread_ts, got.error_message) == (
            text,
            text[:50],
            text,
            text,
        )
        assert [j.id for j in await s.jobs_in_thread("C1", text)] == [job.id]
        assert await s.count_queued_for_user(text[:50]) == 0
        assert len(await s.jobs_in_states(*JobState)) == 1


# -- usage ----------------------------------------------------------------------------------


async def test_usage_arithmetic(store: Store, clock: Clock) -> None:
    await job_in(store, S.DELIVERED, requester_id="B", seconds=12)  # before the window
    since = clock.now = clock.now + 100
    await job_in(store, S.DELIVERED, requester_id="A", seconds=4)  # counts
    await job_in(store, S.FAILED, requester_id="A", seconds=8)  # failed: no
    await job_in(store, S.CANCELED, requester_id="A", seconds=12)  # canceled from queued: no
    late = await job_in(store, S.SUBMITTING, requester_id="A", seconds=8)
    await store.transition(late.id, S.CANCELED)  # canceled after admission: counts
    await job_in(store, S.QUEUED, requester_id="A", seconds=4)  # queued: counts
    gone = await job_in(store, S.DELIVERED, requester_id="A", seconds=12)
    await store.transition(gone.id, S.DELETED)  # delivered then deleted: counts
    dead = await job_in(store, S.FAILED, requester_id="A", seconds=4)
    await store.transition(dead.id, S.DELETED)  # failed then deleted: no
    await job_in(store, S.RUNNING, requester_id="B", seconds=8)  # in flight: counts

    assert await store.seconds_used("A", since) == 4 + 8 + 4 + 12
    assert await store.seconds_used("B", since) == 8
    assert await store.seconds_used("B", since - 100) == 20
    assert await store.seconds_used(None, since) == 36
    assert await store.seconds_used("nobody", since) == 0
    assert await store.usage_by_user(since) == [("A", 4, 28), ("B", 1, 8)]
    assert await store.usage_by_user(clock.now + 1) == []


async def test_cleanup_pending_is_kept_and_listed(store: Store) -> None:
    job = await store.create_job(new())
    await store.transition(job.id, S.CANCELED, cleanup_pending=True)
    assert [j.id for j in await store.jobs_needing_cleanup()] == [job.id]
    await store.update_job(job.id, cleanup_pending=False)
    assert await store.jobs_needing_cleanup() == []


async def test_stale_cards_are_the_ones_showing_another_state(store: Store) -> None:
    shown = await store.create_job(new())
    await store.set_card(shown.id, card_ts="1.1")
    await store.update_job(shown.id, card_shown="queued")
    stale = await store.create_job(new())
    await store.set_card(stale.id, card_ts="2.2")
    await store.update_job(stale.id, card_shown="queued")
    await store.transition(stale.id, S.CANCELED)
    no_card = await store.create_job(new())
    await store.transition(no_card.id, S.CANCELED)
    assert [j.id for j in await store.jobs_with_stale_cards()] == [stale.id]
