"""Cards against the fake Slack (loopback HTTP) and a real SQLite store: first posts that
show the place, edits that would change nothing never sent (after a restart too), coarse
places far back, chat.postMessage at Slack's per-channel pace with 429s, and the
transition counter."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fakes.slack import FakeSlack
from prometheus_client import generate_latest
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Secret, Settings
from bot.jobs import LocalDirectoryDelivery
from bot.metrics import MeteredDelivery, Metrics
from bot.slack import blocks as ui
from bot.slack.app import build_client
from bot.slack.cards import Cards, Rank, rank_of
from bot.slack.posting import PostingStopped
from bot.store import Job, JobKind, JobState, NewJob, Store

S = JobState


def new(i: int, channel: str = "C1", user: str = "U1") -> NewJob:
    return NewJob(
        team_id="T1",
        channel_id=channel,
        requester_id=user,
        kind=JobKind.TEXT,
        prompt=f"card {i}",
        model="sora-2",
        size="720x1280",
        seconds=4,
    )


@contextlib.asynccontextmanager
async def world(
    tmp_path: Path, fake: FakeSlack | None = None, metrics: Metrics | None = None
) -> AsyncIterator[tuple[FakeSlack, Store, AsyncWebClient]]:
    fake = fake or FakeSlack(member_channels={"C1", "C2"})
    async with fake.serve() as api_url, await Store.open(tmp_path / "bot.db") as store:
        settings = Settings(slack_bot_token=Secret("xoxb-test"), slack_api_url=api_url)
        yield fake, store, build_client(settings, metrics)


def cards_in(fake: FakeSlack, channel: str = "C1") -> list[Any]:
    return [m for (c, _), m in sorted(fake.messages.items()) if c == channel and m.bot_id]


# -- places in line -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("position", "says"),
    [
        (None, "waiting in line"),
        (1, "next in line"),
        (2, "2nd in line"),
        (10, "10th in line"),
        (11, "about 10 in line"),
        (16, "about 20 in line"),
        (94, "about 90 in line"),
        (95, "about 100 in line"),
        (287, "about 300 in line"),
        (1234, "about 1,000 in line"),
        (1300, "about 1,500 in line"),
    ],
)
def test_far_back_places_are_coarse_and_every_queued_card_says_in_line(
    position: int | None, says: str
) -> None:
    assert f"Queued: {says}" in ui.status_line(_job(), position)


def test_one_job_leaving_a_long_line_changes_few_far_back_cards() -> None:
    before = {p: ui.place_in_line(p) for p in range(1, 1001)}
    after = {p: ui.place_in_line(p - 1) for p in range(2, 1001)}  # everyone moves up
    changed = [p for p in after if after[p] != before[p]]
    assert len(changed) <= 30  # the first 10, and one card per bucket boundary
    assert len([p for p in changed if p > 10]) <= 20


def _job(**kw: Any) -> Job:
    base: dict[str, Any] = dict(
        id=1, team_id="T1", channel_id="C1", thread_ts=None, card_ts="1.1", requester_id="U1",
        kind=JobKind.TEXT, prompt="p", model="sora-2", size="720x1280", seconds=4,
        input_image_path=None, parent_job_id=None, parent_video_id=None, video_id=None,
        state=S.QUEUED, progress=0, error_code=None, error_message=None, created_at=1.0,
        updated_at=1.0, submitted_at=None, completed_at=None, delivered_at=None, attempts=0,
        slack_file_id=None, video_message_ts=None, version_label="v1", cancel_requested=False,
        deleted_by=None, dedupe_key=None,
    )  # fmt: skip
    base.update(kw)
    return Job(**base)


def test_ranks() -> None:
    assert rank_of(_job(state=S.DELIVERED), "running") == Rank.FINAL
    assert rank_of(_job(state=S.SUBMITTING), "queued") == Rank.STATE
    assert rank_of(_job(state=S.RUNNING, progress=40), "running") == Rank.PROGRESS
    assert rank_of(_job(state=S.QUEUED), "queued") == Rank.POSITION


# -- first posts and unchanged edits -------------------------------------------------------


async def test_a_queued_card_shows_its_place_and_label_in_its_first_post(tmp_path: Path) -> None:
    async with world(tmp_path) as (fake, store, client):
        cards = Cards(client, store)
        jobs = [await store.create_job(new(i, user=f"U{i}")) for i in range(3)]
        posted = await cards.ensure(jobs[2])
        assert posted.card_ts
        assert posted.version_label == "v1"
        (card,) = cards_in(fake)
        assert "3rd in line" in card.text
        assert "v1" in json.dumps(card.blocks)  # the label, known before the post
        await asyncio.sleep(0.05)
        assert cards.throttle.pending == 0  # nothing left to edit: it said all at once
        assert fake.calls_to("chat.update") == []
        await cards.close()


async def test_an_edit_that_changes_nothing_is_never_sent_even_after_a_restart(
    tmp_path: Path,
) -> None:
    metrics = Metrics()
    async with world(tmp_path, metrics=metrics) as (fake, store, client):
        cards = Cards(client, store, per_minute=6000, counters=metrics)
        job = await cards.ensure(await store.create_job(new(1)))
        await cards.show(job, 1)  # the place it shows already
        assert cards.throttle.pending == 0
        assert await cards._edit(job.id, 1) is False  # nor at its turn
        assert fake.calls_to("chat.update") == []

        restarted = Cards(client, store, per_minute=6000, counters=metrics)  # no memory
        await restarted.show(job, None)
        assert await restarted._edit(job.id, None) is False
        assert fake.calls_to("chat.update") == []

        moved = await store.transition(job.id, S.SUBMITTING)
        await restarted.show(moved, None)
        assert restarted.throttle.pending == 1
        assert await restarted._edit(job.id, None) is True
        assert await restarted._edit(job.id, None) is False  # twice: the second is a no-op
        (update,) = fake.calls_to("chat.update")
        assert "Starting" in update.args["text"]
        scrape = generate_latest(metrics.registry).decode()
        assert "sora_card_edits_total 1.0" in scrape
        # after the post, the same place, at its turn, after the restart twice, the no-op
        assert "sora_card_edits_skipped_total 6.0" in scrape
        await cards.close()
        await restarted.close()


# -- chat.postMessage at Slack's pace ------------------------------------------------------


async def test_a_card_refused_with_429_is_posted_after_the_wait_once(tmp_path: Path) -> None:
    metrics = Metrics()
    async with world(tmp_path, metrics=metrics) as (fake, store, client):
        fake.post_burst = 1  # Slack tolerates less of a burst than the bot tries
        cards = Cards(client, store, posts_per_second=20.0, post_burst=6)
        jobs = [await store.create_job(new(i, user=f"U{i}")) for i in range(6)]
        other = await store.create_job(new(9, channel="C2"))
        started = time.monotonic()
        results = await asyncio.gather(*(cards.ensure(j) for j in [*jobs, other]))
        assert all(r.card_ts for r in results)
        texts = [m.text for m in cards_in(fake)]
        assert sorted(texts) == sorted({t for t in texts})  # none twice
        assert len(texts) == 6
        assert all("in line" in t for t in texts)
        assert fake.post_refusals, "Slack never refused: the test proves nothing"
        refused_at = min(t for c, t in fake.post_refusals if c == "C1")
        assert len(cards_in(fake, "C2")) == 1
        c2_post = next(c for c in fake.calls_to("chat.postMessage") if c.args["channel"] == "C2")
        assert c2_post.time - started < 1.0  # C2 does not wait for C1's line
        last = max(m.history[0]["time"] for m in cards_in(fake))
        assert last - refused_at >= 1.0  # after the Retry-After
        scrape = generate_latest(metrics.registry).decode()
        assert 'slack_rate_limited_total{method="chat.postMessage"}' in scrape
        await cards.close()


async def test_a_card_is_posted_after_more_429s_than_the_client_retries(tmp_path: Path) -> None:
    async with world(tmp_path) as (fake, store, client):
        cards = Cards(client, store)
        job = await store.create_job(new(1))
        fake.fail_next("chat.postMessage", status=429, retry_after=0, times=5)  # client: 3
        posted = await asyncio.wait_for(cards.ensure(job), 30)
        assert posted.card_ts
        assert len(cards_in(fake)) == 1
        assert cards.poster.rate_limited >= 1  # the poster itself waited one out
        await cards.close()


async def test_a_card_waiting_at_shutdown_is_not_lost(tmp_path: Path) -> None:
    async with world(tmp_path) as (fake, store, client):
        fake.post_burst = 1
        cards = Cards(client, store, posts_per_second=0.2, post_burst=1)
        first, second = [await store.create_job(new(i, user=f"U{i}")) for i in range(2)]
        await cards.ensure(first)
        waiting = asyncio.ensure_future(cards.ensure(second))
        await asyncio.sleep(0.1)
        await cards.close()
        with pytest.raises(PostingStopped):
            await waiting
        assert (await store.get_job(second.id)).card_ts is None  # type: ignore[union-attr]
        again = Cards(client, store)  # the next start posts it
        posted = await again.ensure(second)
        assert posted.card_ts
        assert len(cards_in(fake)) == 2
        await again.close()


# -- the transition counter ----------------------------------------------------------------


async def test_transitions_count_state_changes_not_progress_or_places(tmp_path: Path) -> None:
    metrics = Metrics()
    delivery = MeteredDelivery(LocalDirectoryDelivery(tmp_path), metrics)
    job = _job()
    for position in (5, 4, 3, 2, 1):  # the line moves
        await delivery.job_updated(job, position)
    await delivery.job_updated(replace(job, state=S.SUBMITTING), None)
    for progress in (10, 40, 80):
        await delivery.job_updated(replace(job, state=S.RUNNING, progress=progress), None)
    await delivery.job_updated(replace(job, state=S.DELIVERED), None)
    await delivery.job_updated(replace(job, state=S.DELETED), None)
    scrape = generate_latest(metrics.registry).decode()
    for state in ("queued", "submitting", "running", "delivered", "deleted"):
        assert f'sora_job_transitions_total{{state="{state}"}} 1.0' in scrape, state
