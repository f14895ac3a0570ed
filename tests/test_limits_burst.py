"""Limits that a burst cannot pass: many requests from one person sent truly at once (every
envelope written to the socket before any is acked, or signed HTTP requests in flight
together) are admitted exactly up to the queue cap and the daily seconds, on every surface,
and each refused request gets one private refusal, not a card."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from conftest import OpenStore
from slackrig import SlackRig, slack_rig, until
from test_http_mode import http_bot, signed
from test_slack_conversation import modals, soon, video
from test_slack_shortcut import person_message

from bot.slack import blocks as ui
from bot.store import Job, JobKind, JobState, LimitReached, Limits, NewJob, Store

S = JobState
WAITING = "videos waiting"
DAILY = "seconds of video a day"


async def blocker(store: Any, send: Any) -> None:
    """Fill the one running slot with a video that never finishes (U9's): nothing queued is
    admitted while the burst is counted, so the queue cap is what admits."""
    await send("[[never]] a blocker")

    async def running() -> Job | None:
        jobs = await store.recent_jobs_for_user("U9", limit=1)
        return jobs[0] if jobs and jobs[0].state == S.RUNNING else None

    await until(running, 10, "the blocker never ran")


async def jobs_of(store: Any, user: str) -> list[Job]:
    return await store.recent_jobs_for_user(user, limit=1000)


def prompt_values(text: str) -> dict[str, Any]:
    return {"prompt": {"prompt_input": {"type": "plain_text_input", "value": text}}}


def change_values(text: str) -> dict[str, Any]:
    return {"change": {"change_input": {"type": "plain_text_input", "value": text}}}


async def prepare(rig: SlackRig, parent: Job, options: int, remixes: int) -> list[Any]:
    """Envelopes of U1 ready to go: `options` options-modal submissions (opened by `/sora`
    with no text, and by the "Make a video" shortcut on a message, in turn) and `remixes`
    remix-modal submissions (from the Remix button on `parent`)."""
    fake = rig.fake
    for i in range(options):
        if i % 2:
            message = person_message(rig, f"a message to make a video of {i}", user="U2")
            shortcut = fake.message_shortcut(ui.SHORTCUT_FROM_MESSAGE, message, user="U1")
            await rig.send("interactive", shortcut)
        else:
            await rig.command("")
    await until(lambda: soon(modals(rig, ui.VIEW_OPTIONS)[options - 1 :]), 5, "modals not open")
    for _ in range(remixes):
        payload = fake.block_action(ui.ACTION_REMIX, str(parent.id), "U1", "C1", "")
        payload["message"] = {"ts": parent.card_ts}
        payload["container"]["message_ts"] = parent.card_ts
        await rig.send("interactive", payload)
    await until(lambda: soon(modals(rig, ui.VIEW_REMIX)[remixes - 1 :]), 5, "remix modals not open")
    out = [
        ("interactive", fake.view_submission(view, "U1", prompt_values(f"from a form {i}")))
        for i, view in enumerate(modals(rig, ui.VIEW_OPTIONS))
    ]
    out += [
        ("interactive", fake.view_submission(view, "U1", change_values(f"remixed by form {i}")))
        for i, view in enumerate(modals(rig, ui.VIEW_REMIX))
    ]
    return out


async def fire(rig: SlackRig, envelopes: list[tuple[str, dict[str, Any]]]) -> None:
    """Write every envelope to the socket before waiting for any ack; then every ack."""
    ids = await asyncio.gather(*(rig.fake.send_envelope(k, p) for k, p in envelopes))
    await asyncio.gather(*(rig.fake.wait_ack(i, timeout=10) for i in ids))


def answers(rig: SlackRig, user: str, slash: list[dict[str, Any]]) -> list[str]:
    """Everything said privately to `user`: ephemerals, and answers on the commands'
    response_urls."""
    said = [json.dumps(e) for e in rig.fake.ephemerals(user)]
    for payload in slash:
        said += [json.dumps(r) for r in rig.fake.responses(payload["response_url"])]
    return said


async def settled(
    rig: SlackRig, user: str, slash: list[dict[str, Any]], total: int, since: int
) -> list[Job]:
    """Wait until every one of `total` requests made a job or got an answer."""

    async def done() -> list[Job] | None:
        jobs = [j for j in await jobs_of(rig.store, user) if j.id > since]
        return jobs if len(jobs) + len(answers(rig, user, slash)) >= total else None

    return await until(done, 15, "not every request was answered")


async def burst(
    rig: SlackRig, parent: Job, *, commands: int, options: int, replies: int, remixes: int
) -> tuple[list[Job], list[str]]:
    """U1 sends every kind of request at once; returns the jobs made and the answers."""
    since = max((j.id for j in await jobs_of(rig.store, "U1")), default=0)
    since = max(since, parent.id, *(j.id for j in await jobs_of(rig.store, "U9")))
    envelopes = await prepare(rig, parent, options, remixes)
    slash = [rig.fake.slash_command(f"burst {i}") for i in range(commands)]
    envelopes += [("slash_commands", p) for p in slash]
    thread = parent.thread_ts or parent.card_ts
    envelopes += [
        ("events_api", rig.fake.message_event(f"remix: reply {i}", user="U1", thread_ts=thread))
        for i in range(replies)
    ]
    await fire(rig, envelopes)
    total = commands + options + replies + remixes
    await settled(rig, "U1", slash, total, since)
    await asyncio.sleep(0.2)  # anything late would show now: a second answer, a card
    return [j for j in await jobs_of(rig.store, "U1") if j.id > since], answers(rig, "U1", slash)


async def test_a_200_request_burst_on_every_surface_is_held_to_the_queue_cap(
    tmp_path: Path,
) -> None:
    async with slack_rig(tmp_path, max_running_jobs=1, max_queued_per_user=3) as rig:
        parent = await video(rig, "the video everyone remixes", user="U2")
        await blocker(rig.store, lambda text: rig.command(text, user="U9"))
        jobs, said = await burst(rig, parent, commands=191, options=3, replies=3, remixes=3)
        assert len(jobs) == 3, [j.prompt for j in jobs]
        assert all(j.state == S.QUEUED for j in jobs)
        assert len(said) == 200 - 3  # one answer per refused request, no more
        assert all(WAITING in s for s in said), said

        async def cards_posted() -> bool:  # cards are paced per channel (about 1 a second)
            return all([(await rig.job(j.id)).card_ts for j in jobs])

        await until(cards_posted, 15, "the admitted jobs' cards were never posted")
        posted = [c for c in rig.fake.calls_to("chat.postMessage") if c.args.get("channel") == "C1"]
        # Cards: the parent's, the blocker's, and one per admitted job; nothing for refusals.
        assert len([c for c in posted if "asked for a video" in json.dumps(c.args)]) == 2 + 3


async def test_a_burst_on_every_surface_is_held_to_the_daily_seconds(tmp_path: Path) -> None:
    async with slack_rig(tmp_path, max_queued_per_user=50, user_daily_seconds=8) as rig:
        parent = await video(rig, "four seconds to remix", user="U2")
        jobs, said = await burst(rig, parent, commands=8, options=4, replies=4, remixes=4)
        assert len(jobs) == 2, [j.prompt for j in jobs]
        assert sum(j.seconds for j in jobs) == 8
        assert len(said) == 20 - 2
        assert all(DAILY in s and "0 seconds left" in s for s in said), said


async def test_both_limits_in_one_burst_of_two_people(tmp_path: Path) -> None:
    async with slack_rig(
        tmp_path, max_running_jobs=1, max_queued_per_user=2, user_daily_seconds=12
    ) as rig:
        parent = await video(rig, "a clip", user="U2")
        await blocker(rig.store, lambda text: rig.command(text, user="U9"))
        fake = rig.fake
        # U1 asks for 4 s clips: the queue cap (2) binds before the quota (3 clips).
        # U3 asks for 12 s clips: the quota (1 clip) binds before the cap (2).
        u1 = [fake.slash_command(f"four {i}", user="U1") for i in range(6)]
        u3 = [fake.slash_command(f"twelve {i} --seconds 12", user="U3") for i in range(6)]
        thread = parent.thread_ts or parent.card_ts
        replies = [
            fake.message_event(f"remix: r{i}", user="U1", thread_ts=thread) for i in range(3)
        ]
        envelopes = [("slash_commands", p) for pair in zip(u1, u3, strict=True) for p in pair]
        await fire(rig, [*envelopes, *[("events_api", r) for r in replies]])
        ones = await settled(rig, "U1", u1, 9, parent.id)
        threes = await settled(rig, "U3", u3, 6, parent.id)
        assert len(ones) == 2
        assert len(threes) == 1
        assert all(WAITING in s for s in answers(rig, "U1", u1))
        assert all(DAILY in s for s in answers(rig, "U3", u3))
        assert len(answers(rig, "U1", u1)) == 9 - 2
        assert len(answers(rig, "U3", u3)) == 6 - 1


# -- HTTP mode: concurrent signed requests ------------------------------------------------------


async def test_concurrent_signed_http_requests_are_held_to_both_limits(tmp_path: Path) -> None:
    async with (
        http_bot(tmp_path, max_running_jobs=1, max_queued_per_user=2, user_daily_seconds=12) as (
            base,
            fake,
            runtime,
        ),
        httpx.AsyncClient(timeout=10) as http,
    ):
        url = f"{base}/slack/events"

        async def post(payload: dict[str, Any]) -> int:
            body = urlencode({k: str(v) for k, v in payload.items() if v is not None})
            return (await http.post(url, content=body, headers=signed(body))).status_code

        await blocker(runtime.store, lambda text: post(fake.slash_command(text, user="U9")))
        u1 = [fake.slash_command(f"four {i}", user="U1") for i in range(10)]
        u3 = [fake.slash_command(f"twelve {i} --seconds 12", user="U3") for i in range(10)]
        statuses = await asyncio.gather(
            *(post(p) for pair in zip(u1, u3, strict=True) for p in pair)
        )
        assert statuses == [200] * 20

        def refused(payloads: list[dict[str, Any]]) -> list[str]:
            return [json.dumps(r) for p in payloads for r in fake.responses(p["response_url"])]

        async def done() -> tuple[list[Job], list[Job]] | None:
            ones = await jobs_of(runtime.store, "U1")
            threes = await jobs_of(runtime.store, "U3")
            if len(ones) + len(refused(u1)) < 10 or len(threes) + len(refused(u3)) < 10:
                return None
            return ones, threes

        ones, threes = await until(done, 15, "not every request was answered")
        await asyncio.sleep(0.2)
        assert (len(ones), len(threes)) == (2, 1)
        assert len(refused(u1)) == 8
        assert all(WAITING in s for s in refused(u1))
        assert len(refused(u3)) == 9
        assert all(DAILY in s for s in refused(u3))


# -- the store: two connections (as two processes would have) at once --------------------------


async def test_two_connections_creating_at_once_never_pass_the_limits(
    open_store_here: OpenStore,
) -> None:
    # On SQLite two connections to one file; on PostgreSQL two pools, as two replicas.
    async with await open_store_here() as one, await open_store_here() as two:

        def new(user: str, i: int, seconds: int = 4) -> NewJob:
            return NewJob(
                team_id="T1", channel_id="C1", requester_id=user, kind=JobKind.TEXT,
                prompt=f"clip {i}", model="sora-2", size="720x1280", seconds=seconds,
            )  # fmt: skip

        async def create(store: Store, job: NewJob, limits: Limits) -> str:
            try:
                await store.create_job(job, limits=limits)
            except LimitReached as reached:
                return reached.which
            return "made"

        cap = Limits(max_queued=3)
        quota = Limits(max_queued=100, daily_seconds=12, since=0)
        results = await asyncio.gather(
            *(create((one, two)[i % 2], new("U1", i), cap) for i in range(40)),
            *(create((two, one)[i % 2], new("U2", i, 8), quota) for i in range(40)),
        )
        assert results[:40].count("made") == 3
        assert set(results[:40]) == {"made", "queue"}
        assert results[40:].count("made") == 1  # 8 s, then 8 more would be 16 > 12
        assert set(results[40:]) == {"made", "daily"}
        assert await one.count_queued_for_user("U1") == 3
        assert await two.seconds_used("U2", 0) == 8
