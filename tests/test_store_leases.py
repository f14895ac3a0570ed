"""Job leases on a real PostgreSQL: replicas claiming at once take different jobs, a lease
that runs out is claimed again with a higher fencing token, and a write fenced by an older
token is refused. (Not wired into the runner yet.)"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.store import (
    UNFINISHED,
    JobKind,
    JobState,
    Lease,
    LeaseLost,
    NewJob,
    Store,
    StoreError,
)

S = JobState
QUEUED = (S.QUEUED,)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def new(i: int) -> NewJob:
    return NewJob(
        team_id="T1", channel_id="C1", requester_id=f"U{i % 5}", kind=JobKind.TEXT,
        prompt=f"clip {i}", model="sora-2", size="720x1280", seconds=4,
    )  # fmt: skip


@pytest.fixture
async def replicas(pg_url: str) -> AsyncIterator[tuple[Clock, list[Store]]]:
    """Three replicas on one database, sharing one (settable) clock."""
    clock = Clock()
    stores = [await Store.open_postgres(pg_url, pool_size=3, clock=clock) for _ in range(3)]
    try:
        yield clock, stores
    finally:
        for store in stores:
            await store.close()


async def test_replicas_claiming_at_once_never_take_the_same_job(
    replicas: tuple[Clock, list[Store]],
) -> None:
    _, stores = replicas
    for _ in range(6):  # a lost race is rare in any one round
        first = (await stores[0].create_job(new(0))).id
        for i in range(1, 30):
            await stores[0].create_job(new(i))
        claims = await asyncio.gather(
            *(
                stores[i % 3].claim_jobs(f"replica-{i % 3}", states=QUEUED, limit=3, ttl=30)
                for i in range(15)
            )
        )
        taken = [lease.job_id for batch in claims for lease in batch]
        assert len(taken) == len(set(taken)), sorted(taken)  # no job claimed twice
        assert {lease.token for batch in claims for lease in batch} == {1}
        # What a claim skipped (locked at that moment) is claimable after.
        rest = await stores[1].claim_jobs("late", states=QUEUED, limit=100, ttl=30)
        assert sorted(taken + [lease.job_id for lease in rest]) == list(range(first, first + 30))
        assert await stores[2].claim_jobs("later", states=QUEUED, limit=100, ttl=30) == []
        for job_id in range(first, first + 30):  # done with this round's jobs
            await stores[0].transition(job_id, S.CANCELED)


async def test_a_lease_that_runs_out_is_claimed_again_and_fences_the_old_holder(
    replicas: tuple[Clock, list[Store]],
) -> None:
    clock, (one, two, _) = replicas
    job = await one.create_job(new(0))
    (mine,) = await one.claim_jobs("one", states=QUEUED, limit=5, ttl=30)
    assert (mine.job_id, mine.holder, mine.token, mine.until) == (job.id, "one", 1, clock.now + 30)
    clock.now += 20
    mine = await one.renew_lease(mine, 30)  # renewed in time: still one's
    assert mine.until == clock.now + 30
    clock.now += 29
    assert await two.claim_jobs("two", states=QUEUED, limit=5, ttl=30) == []
    await one.transition(job.id, S.SUBMITTING, fence=mine)  # one may still write

    clock.now += 5  # one stalled: its lease ran out, and two takes the job over
    (theirs,) = await two.claim_jobs("two", states=(S.SUBMITTING,), limit=5, ttl=30)
    assert (theirs.job_id, theirs.holder, theirs.token) == (job.id, "two", 2)
    with pytest.raises(LeaseLost):
        await one.renew_lease(mine, 30)
    with pytest.raises(LeaseLost):  # one wakes up: its writes are refused, nothing changes
        await one.transition(job.id, S.RUNNING, fence=mine, video_id="video_old")
    with pytest.raises(LeaseLost):
        await one.update_job(job.id, fence=mine, progress=50)
    after = await two.transition(job.id, S.RUNNING, fence=theirs, video_id="video_new")
    assert (after.state, after.video_id, after.progress) == (S.RUNNING, "video_new", 0)

    assert await two.release_lease(theirs) is True
    assert await one.release_lease(mine) is False  # not one's any more
    (again,) = await one.claim_jobs("one", states=tuple(UNFINISHED), limit=5, ttl=30)
    assert again.token == 3  # released: claimable at once, with a newer token


async def test_a_fenced_write_racing_a_claim_is_refused_or_comes_first(
    replicas: tuple[Clock, list[Store]],
) -> None:
    clock, (one, two, three) = replicas
    for round_ in range(10):
        job = await one.create_job(new(round_))
        (mine,) = await one.claim_jobs("one", states=QUEUED, limit=1, ttl=1)
        clock.now += 2  # run out: the claim and the old holder's write race
        write, claim = await asyncio.gather(
            one.transition(job.id, S.SUBMITTING, fence=mine),
            two.claim_jobs("two", states=(S.QUEUED, S.SUBMITTING), limit=1, ttl=30),
            return_exceptions=True,
        )
        assert not isinstance(claim, BaseException)
        if isinstance(write, LeaseLost):
            assert [lease.token for lease in claim] == [2]  # the claim came first
        else:
            assert not isinstance(write, BaseException)
            # The write came first (under the old, still newest lease), or the claim
            # skipped the row it held locked; either way the write is not undone.
            got = await three.get_job(job.id)
            assert got is not None
            assert got.state is S.SUBMITTING
        if claim:  # taken over: from now on every write under the old lease is refused
            with pytest.raises(LeaseLost):
                await one.update_job(job.id, fence=mine, progress=1)
        for lease in claim:
            await two.release_lease(lease)
        # Finish this round's job so the next round claims only its own.
        await three.transition(job.id, S.FAILED)


async def test_sqlite_has_no_leases(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "bot.db") as store:
        with pytest.raises(StoreError, match="need PostgreSQL"):
            await store.claim_jobs("one", states=QUEUED, limit=1, ttl=5)
        with pytest.raises(StoreError, match="need PostgreSQL"):
            await store.renew_lease(Lease(1, "one", 1, 0.0), 5)
