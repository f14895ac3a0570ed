"""A pool of Sora backends through the whole bot (issue 15): the fake Slack over Socket
Mode, one emulator resource per backend over loopback, a real SQLite file."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from poolrig import ADMIN_CHANNEL, admin_notices, pool_rig, told_at_least
from rig import fast_emulator_config
from slackrig import SlackRig, until
from test_home import home_with

from bot.emulator import EmulatorResources
from bot.slack.blocks import MOVED_NOTE
from bot.store import Job, JobState

S = JobState
USERS = ("U1", "U2", "U3", "U4")


async def start(rig: SlackRig, n: int, prefix: str = "a kite") -> None:
    for i in range(n):
        await rig.command(f"{prefix} number {i}", user=USERS[i % len(USERS)])


async def all_delivered(rig: SlackRig, n: int, timeout: float = 60.0) -> list[Job]:
    async def done() -> list[Job] | None:
        jobs = [await rig.store.get_job(i) for i in range(1, n + 1)]
        ready = [j for j in jobs if j is not None and j.state == S.DELIVERED]
        return ready if len(ready) == n else None

    return await until(done, timeout, f"not all {n} jobs were delivered")


def made_by(resources: EmulatorResources, video_id: str | None) -> str:
    return next(name for name in resources if video_id in resources[name].videos)


def exactly_once(rig: SlackRig, jobs: list[Job]) -> None:
    """Every job's thread has exactly one video share."""
    for job in jobs:
        assert len(rig.shares("C1", job.thread_ts or "")) == 1, job.id


async def test_two_backends_share_the_load_and_each_cap_holds(tmp_path: Path) -> None:
    async with pool_rig(tmp_path, {"east": 2, "sweden": 1}) as (rig, resources):
        await start(rig, 9)
        jobs = await all_delivered(rig, 9)
        await rig.settle_cards()
        exactly_once(rig, jobs)
        by = Counter(j.backend for j in jobs)
        assert set(by) == {"east", "sweden"}
        for job in jobs:
            assert made_by(resources, job.video_id) == job.backend  # ids are per resource
        assert 1 <= resources["east"].max_running_observed <= 2
        assert resources["sweden"].max_running_observed == 1
        assert admin_notices(rig) == []


async def test_three_backends_never_pass_their_caps(tmp_path: Path) -> None:
    caps = {"a": 1, "b": 2, "c": 1}
    async with pool_rig(tmp_path, caps) as (rig, resources):
        await start(rig, 12)
        jobs = await all_delivered(rig, 12)
        exactly_once(rig, jobs)
        for name, cap in caps.items():
            assert 1 <= resources[name].max_running_observed <= cap
        assert sum(len(resources[n].videos) for n in caps) == 12  # nothing made twice


async def test_a_429_pauses_that_backend_only(tmp_path: Path) -> None:
    async with pool_rig(tmp_path, {"east": 1, "sweden": 1}, weights={"east": 2.0}) as (
        rig,
        resources,
    ):
        busy = {"error": {"code": "too_many_requests", "message": "Too many running tasks."}}
        resources["east"].fail_next(
            429, method="POST", path_prefix="/openai/v1/videos", retry_after=60, body=busy
        )
        await start(rig, 3)
        jobs = await all_delivered(rig, 3)
        # east (the heavier) was asked first and said busy: it is paused a minute, and
        # everything went to sweden meanwhile.
        assert [j.backend for j in jobs] == ["sweden"] * 3
        assert len(resources["east"].videos) == 0
        paused = {s.name: s.paused for s in rig.runtime.runner.pool.status()}
        assert paused == {"east": True, "sweden": False}
        assert admin_notices(rig) == []  # busy is not down


async def test_a_retired_deployment_mid_run_moves_its_jobs_and_tells_admins_once(
    tmp_path: Path,
) -> None:
    slow = {n: fast_emulator_config(max_running=1, generation_seconds_per_video_second=0.4)
            for n in ("a", "b", "c")}  # fmt: skip
    async with pool_rig(tmp_path, {"a": 1, "b": 1, "c": 1}, configs=slow) as (rig, resources):
        await start(rig, 7)

        async def running_on_a() -> Job | None:
            for job in await rig.store.jobs_in_states(S.RUNNING):
                if job.backend == "a":
                    return job
            return None

        moved = await until(running_on_a, 20, "no job ran on a")
        resources["a"].retire_deployment("sora-2")
        jobs = await all_delivered(rig, 7)
        await rig.settle_cards()
        exactly_once(rig, jobs)
        again = next(j for j in jobs if j.id == moved.id)
        assert again.moved_from == "a"
        assert again.backend in ("b", "c")
        assert made_by(resources, again.video_id) == again.backend
        card = rig.fake.messages[("C1", again.card_ts or "")]
        assert MOVED_NOTE in str(card.blocks)
        # Nothing went to a after it was retired; others were not moved.
        assert [j.id for j in jobs if j.moved_from] == [moved.id]
        late = [j for j in jobs if j.id > moved.id + 3]
        assert all(j.backend != "a" for j in late)
        await told_at_least(rig, 1)
        notices = admin_notices(rig)
        assert len(notices) == 1
        assert "*a*" in notices[0].text
        assert "127.0.0.1" in notices[0].text
        assert "deployment" in notices[0].text

        resources["a"].retire_deployment("sora-2", retired=False)

        async def back() -> bool:
            return len(rig.fake.thread(ADMIN_CHANNEL, notices[0].ts)) >= 1

        await until(back, 10, "no recovery reply")
        assert len(admin_notices(rig)) == 1
        replies = rig.fake.thread(ADMIN_CHANNEL, notices[0].ts)
        assert len(replies) == 1
        assert "back in rotation" in replies[0].text
        await rig.command("after the rain", user="U9")
        await rig.command("after the rain 2", user="U8")
        await rig.command("after the rain 3", user="U7")
        more = await all_delivered(rig, 10)
        assert "a" in {j.backend for j in more[7:]}  # back in rotation


async def test_a_job_moved_once_that_loses_its_second_backend_fails_plainly(
    tmp_path: Path,
) -> None:
    slow = {n: fast_emulator_config(max_running=1, generation_seconds_per_video_second=1.0)
            for n in ("a", "b", "c")}  # fmt: skip
    async with pool_rig(tmp_path, {"a": 1, "b": 1, "c": 1}, configs=slow) as (rig, resources):
        await start(rig, 1)
        first = await rig.wait_state(1, S.RUNNING)
        assert first.backend is not None
        resources[first.backend].retire_deployment("sora-2")

        async def moved() -> Job | None:
            job = await rig.job(1)
            return job if job.moved_from and job.state == S.RUNNING else None

        second = await until(moved, 20, "the job did not move")
        assert second.backend is not None
        assert second.backend != first.backend
        resources[second.backend].retire_deployment("sora-2")
        failed = await rig.wait_state(1, S.FAILED)
        assert failed.error_code == "backend_lost"
        assert first.backend in (failed.error_message or "")
        assert "try again" in (failed.error_message or "")
        await told_at_least(rig, 2)
        await rig.settle_cards()
        assert len(admin_notices(rig)) == 2  # two outages, one notice each


async def test_a_remix_of_a_video_whose_backend_is_out_is_refused(tmp_path: Path) -> None:
    async with pool_rig(tmp_path, {"east": 1, "sweden": 1}, weights={"east": 2.0}) as (
        rig,
        resources,
    ):
        await start(rig, 1)
        (v1,) = await all_delivered(rig, 1)
        assert v1.backend == "east"
        resources["east"].retire_deployment("sora-2")
        pool = rig.runtime.runner.pool

        async def east_out() -> bool:
            return not pool.in_rotation("east")

        await until(east_out, 10, "east never left the rotation")
        creates = sum(resources[n].create_calls for n in resources)
        thread = v1.card_ts or ""
        payload = rig.fake.message_event("remix: make it night", thread_ts=thread)
        await rig.send("events_api", payload)

        async def answered() -> list[str] | None:
            texts = [m.text for m in rig.fake.thread("C1", thread) if m.bot_id]
            return [t for t in texts if "Cannot remix" in t] or None

        (text,) = await until(answered, 10, "the remix was not answered")
        assert "`east`" in text
        assert "new video from the same prompt" in text
        await rig.listeners_done()
        assert sum(resources[n].create_calls for n in resources) == creates  # nothing spent
        remixes = [r for r in resources["sweden"].requests if r.path.endswith("/remix")]
        assert remixes == []


async def test_admins_see_each_backends_health_on_their_home_tab(tmp_path: Path) -> None:
    async with pool_rig(tmp_path, {"east": 2, "west": 1}, admin_user_ids=frozenset({"UADMIN"})) as (
        rig,
        resources,
    ):
        await rig.send("events_api", rig.fake.app_home_opened("UADMIN"))
        await home_with(
            rig, "UADMIN", "*east* (127.0.0.1)", "up, 0 of 2 running", "*west* (127.0.0.1)"
        )
        await rig.send("events_api", rig.fake.app_home_opened("U1"))
        mine = await home_with(rig, "U1", "Your Sora videos")
        assert "*east*" not in mine  # people see their own videos, not the backends

        resources["west"].retire_deployment("sora-2")  # the probe finds it

        async def out() -> bool:
            return not any(b.up for b in rig.runtime.runner.pool.status() if b.name == "west")

        await until(out, 10, "west never left the rotation")
        await rig.send("events_api", rig.fake.app_home_opened("UADMIN"))
        await home_with(rig, "UADMIN", "*west* (127.0.0.1): out of rotation (")
