"""The store's variant groups (all or none, limits for the whole group, atomically) and
held requests (handed out once, to their own requester, until they expire)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.store import DuplicateJob, Held, HeldRequest, JobKind, LimitReached, Limits, NewJob, Store


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    async with await Store.open(tmp_path / "bot.db", clock=CLOCK) as s:
        yield s


CLOCK = Clock()


def group(n: int, key: str = "g1", seconds: int = 4, dedupe: str | None = None) -> list[NewJob]:
    base = NewJob(team_id="T1", channel_id="C1", requester_id="U1", kind=JobKind.TEXT,
                  prompt="a kite", model="sora-2", size="720x1280", seconds=seconds,
                  variant_group=key, dedupe_key=dedupe)  # fmt: skip
    return [
        dataclasses.replace(
            base, version_label=f"v{'ABCDE'[i]}", dedupe_key=f"{dedupe}#{i}" if i else dedupe
        )
        for i in range(n)
    ]


async def test_a_group_is_created_whole_and_read_back_in_order(store: Store) -> None:
    jobs = await store.create_group(group(3), limits=Limits(max_queued=3))
    assert [j.version_label for j in jobs] == ["vA", "vB", "vC"]
    assert [j.id for j in await store.jobs_in_group("g1")] == [j.id for j in jobs]


async def test_a_group_over_a_limit_creates_nothing(store: Store) -> None:
    await store.create_group(group(1, "g0"), limits=Limits(max_queued=3))
    with pytest.raises(LimitReached) as queue:
        await store.create_group(group(3), limits=Limits(max_queued=3))
    assert (queue.value.which, queue.value.used) == ("queue", 1)
    with pytest.raises(LimitReached) as daily:
        await store.create_group(
            group(2, seconds=8), limits=Limits(max_queued=9, daily_seconds=16, since=0)
        )
    assert (daily.value.which, daily.value.used) == ("daily", 4)
    assert await store.jobs_in_group("g1") == []


async def test_groups_at_once_cannot_pass_the_daily_limit_together(store: Store) -> None:
    limits = Limits(max_queued=9, daily_seconds=12, since=0)
    results = await asyncio.gather(
        *(store.create_group(group(2, f"g{n}"), limits=limits) for n in range(4)),
        return_exceptions=True,
    )
    made = [r for r in results if isinstance(r, list)]
    assert len(made) == 1
    assert all(isinstance(r, LimitReached) for r in results if not isinstance(r, list))


async def test_a_used_dedupe_key_returns_the_first_job(store: Store) -> None:
    jobs = await store.create_group(group(2, dedupe="trigger:1"))
    with pytest.raises(DuplicateJob) as again:
        await store.create_group(group(2, "g2", dedupe="trigger:1"))
    assert again.value.job.id == jobs[0].id
    assert await store.jobs_in_group("g2") == []


async def test_a_held_request_is_handed_out_once_to_its_requester(store: Store) -> None:
    await store.hold("k1", user_id="U1", request='{"a": 1}', ttl=60)
    assert await store.take_held("k1", user_id="U2") is Held.UNKNOWN
    taken = await store.take_held("k1", user_id="U1")
    assert isinstance(taken, HeldRequest)
    assert taken.request == '{"a": 1}'
    assert await store.take_held("k1", user_id="U1") is Held.TAKEN
    assert await store.take_held("nope", user_id="U1") is Held.UNKNOWN
    await store.hold("k2", user_id="U1", request="{}", ttl=60)
    CLOCK.now += 61
    assert await store.take_held("k2", user_id="U1") is Held.EXPIRED
    both = await asyncio.gather(*(store.take_held("k3", user_id="U1") for _ in range(2)))
    assert both == [Held.UNKNOWN, Held.UNKNOWN]
    await store.hold("k3", user_id="U1", request="{}", ttl=60)
    both = await asyncio.gather(*(store.take_held("k3", user_id="U1") for _ in range(2)))
    assert sorted(isinstance(t, HeldRequest) for t in both) == [False, True]
