"""Intake's decisions, one by one: the real Intake over a real SQLite store, a real runner
(not started: jobs stay queued, nothing reaches Sora), real cards posted to the fake Slack
over loopback, and first frames fetched from the fake Slack's file host."""

from __future__ import annotations

import contextlib
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from fakes.slack import FakeSlack
from PIL import Image
from rig import Rig, make_rig
from slackrig import manifest_scopes

from bot.config import Secret, Settings
from bot.slack.app import build_client
from bot.slack.cards import Cards
from bot.slack.channels import ChannelKinds
from bot.slack.files import ImageFetcher
from bot.slack.intake import Answer, Ask, Intake, To
from bot.slack.parse import RemixReply
from bot.store import Job, JobKind, JobState

S = JobState
TOKEN = "xoxb-test"


@dataclass
class Desk:
    fake: FakeSlack
    rig: Rig
    intake: Intake
    work: Path
    intake_client: Any = None  # the Web API client the listeners are given

    async def jobs(self, user: str = "U1") -> list[Job]:
        return await self.rig.store.recent_jobs_for_user(user, limit=100)

    def fitted_files(self) -> list[Path]:
        inputs = self.work / "inputs"
        return sorted(inputs.iterdir()) if inputs.exists() else []


@contextlib.asynccontextmanager
async def desk(tmp_path: Path, **settings: Any) -> AsyncIterator[Desk]:
    fake = FakeSlack(member_channels={"C1", "C2", "G1"}, scopes=manifest_scopes())
    fake.add_channel("G1", "secret", is_private=True)
    queued = int(settings.get("max_queued_per_user", 3))
    async with (
        fake.serve() as api_url,
        make_rig(tmp_path, start=False, max_queued_per_user=queued) as rig,
        aiohttp.ClientSession() as session,
    ):
        config = Settings(slack_bot_token=Secret(TOKEN), slack_api_url=api_url, **settings)
        client = build_client(config)
        cards = Cards(client, rig.store, posts_per_second=100.0, post_burst=100)
        work = tmp_path / "work"
        images = ImageFetcher(client, session, TOKEN, api_url=api_url, work_dir=work)
        intake = Intake(
            settings=config,
            store=rig.store,
            runner=rig.runner,
            cards=cards,
            channels=ChannelKinds(client),
            images=images,
        )
        try:
            yield Desk(fake, rig, intake, work, client)
        finally:
            await cards.close()


def ask(prompt: str = "a corgi surfing", **kw: Any) -> Ask:
    base: dict[str, Any] = dict(
        team_id="T1", channel_id="C1", user_id="U1", prompt=prompt, size="720x1280", seconds=4
    )
    base.update(kw)
    return Ask(**base)


def text(answer: Answer | None) -> str:
    assert answer is not None, "expected an answer, got None"
    return answer.message.text


def png(width: int = 64, height: int = 48) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 40)).save(out, "PNG")
    return out.getvalue()


async def delivered(desk: Desk, job: Job) -> Job:
    for to in (S.SUBMITTING, S.RUNNING, S.DOWNLOADING, S.UPLOADING):
        await desk.rig.store.transition(job.id, to)
    return await desk.rig.store.transition(job.id, S.DELIVERED, video_id=f"video_{job.id}")


async def started(desk: Desk, prompt: str, **kw: Any) -> Job:
    """A job started through intake (its card posted), the newest of its user."""
    assert await desk.intake.start(ask(prompt, **kw)) is None
    return (await desk.jobs(kw.get("user_id", "U1")))[0]


# -- start: the allow-list, the prompt, the limits, dedupe ------------------------------------


async def test_a_channel_outside_the_allow_list_is_refused_privately(tmp_path: Path) -> None:
    async with desk(tmp_path, allowed_channel_ids=frozenset({"C1"})) as d:
        answer = await d.intake.start(ask(channel_id="C2", thread_ts="111.1"))
        assert "isn't enabled in this channel" in text(answer)
        assert answer is not None
        assert answer.to is To.PRIVATE
        assert (answer.channel, answer.thread_ts) == ("C2", "111.1")
        assert await d.jobs() == []
        assert await d.intake.start(ask(channel_id="C1")) is None  # the allowed channel works
        assert [job.channel_id for job in await d.jobs()] == ["C1"]


async def test_the_prompt_limit_is_one_rule_with_one_wording(tmp_path: Path) -> None:
    async with desk(tmp_path) as d:
        said = "The prompt is 32,001 characters; the limit is 32,000."
        assert said in text(await d.intake.start(ask("x" * 32_001)))
        assert await d.jobs() == []
        assert await d.intake.start(ask("x" * 32_000)) is None  # the limit itself is fine

        v1 = await delivered(d, (await d.jobs())[0])
        change = RemixReply("y" * 32_001)
        thread = v1.thread_ts or ""
        answer = await d.intake.remix_reply(
            channel="C1", thread=thread, user="U1", remix=change, key="e1"
        )
        assert said in text(answer)
        assert len(await d.jobs()) == 1


async def test_the_queue_cap_refuses_the_one_too_many(tmp_path: Path) -> None:
    async with desk(tmp_path, max_queued_per_user=2) as d:
        assert await d.intake.start(ask("one")) is None
        assert await d.intake.start(ask("two")) is None
        refused = text(await d.intake.start(ask("three")))
        assert "You already have 2 videos waiting, the most one person may queue" in refused
        assert [job.prompt for job in await d.jobs()] == ["two", "one"]
        assert await d.intake.start(ask("another person's", user_id="U2")) is None


async def test_the_daily_quota_says_what_is_left(tmp_path: Path) -> None:
    async with desk(tmp_path, user_daily_seconds=8) as d:
        assert await d.intake.start(ask("first", seconds=4)) is None
        refused = text(await d.intake.start(ask("too long", seconds=8)))
        assert "That would pass your limit of 8 seconds of video a day" in refused
        assert "you have 4 seconds left" in refused
        assert await d.intake.start(ask("fits", seconds=4)) is None
        assert [job.prompt for job in await d.jobs()] == ["fits", "first"]


async def test_a_retried_request_returns_the_existing_job(tmp_path: Path) -> None:
    async with desk(tmp_path) as d:
        first = await d.intake.starter.admit(ask("a cat", dedupe_key="view:V1"))
        again = await d.intake.starter.admit(ask("a cat", dedupe_key="view:V1"))
        assert isinstance(first, Job)
        assert isinstance(again, Job)
        assert again.id == first.id
        assert await d.intake.start(ask("a cat", dedupe_key="view:V1")) is None
        other = await d.intake.starter.admit(ask("a cat", dedupe_key="view:V2"))
        assert isinstance(other, Job)
        assert other.id != first.id
        assert len(await d.jobs()) == 2


# -- start with a first frame ----------------------------------------------------------------


async def test_an_image_that_cannot_be_used_queues_nothing(tmp_path: Path) -> None:
    async with desk(tmp_path) as d:
        bad = d.fake.add_user_file("notes.png", mimetype="image/png", content=b"not a picture")
        answer = await d.intake.start(ask(), image_file=bad["id"])
        assert "Can't use that image" in text(answer)
        assert await d.jobs() == []
        assert d.fitted_files() == []


async def test_a_fitted_image_is_removed_when_the_job_is_refused_or_a_duplicate(
    tmp_path: Path,
) -> None:
    async with desk(tmp_path) as d:
        image = d.fake.add_user_file("cat.png", content=png())["id"]
        # Refused after fitting (the prompt is checked with the insert): the file goes.
        refused = await d.intake.start(ask("x" * 32_001), image_file=image)
        assert "the limit is 32,000" in text(refused)
        assert d.fitted_files() == []
        assert await d.jobs() == []

        assert await d.intake.start(ask(dedupe_key="view:V1"), image_file=image) is None
        (job,) = await d.jobs()
        assert job.kind == JobKind.IMAGE
        assert d.fitted_files() == [Path(job.input_image_path or "")]  # the job's own frame

        # A retried submission: fitted again, for no job; the first job's frame stays.
        assert await d.intake.start(ask(dedupe_key="view:V1"), image_file=image) is None
        assert d.fitted_files() == [Path(job.input_image_path or "")]
        assert len(await d.jobs()) == 1


async def test_a_full_queue_is_refused_before_the_image_is_fetched(tmp_path: Path) -> None:
    async with desk(tmp_path, max_queued_per_user=1) as d:
        assert await d.intake.start(ask("one")) is None
        image = d.fake.add_user_file("cat.png", content=png())["id"]
        refused = await d.intake.start(ask("two"), image_file=image)
        assert "You already have 1 videos waiting" in text(refused)
        assert d.fitted_files() == []
        assert d.fake.calls_to("files.info") == []


# -- remix: which parent, and what the thread hears ---------------------------------------------


async def remix(d: Desk, thread: str, change: str, version: str | None = None) -> Answer | None:
    return await d.intake.remix_reply(
        channel="C1",
        thread=thread,
        user="U1",
        remix=RemixReply(change, version),
        key=f"event:{thread}:{change}:{version}",
    )


async def test_remix_replies_find_their_parent_or_say_why_not(tmp_path: Path) -> None:
    async with desk(tmp_path) as d:
        answer = await remix(d, "999.9", "at night")
        assert "There is no video in this thread to remix" in text(answer)
        assert answer is not None
        assert (answer.to, answer.thread_ts) == (To.THREAD, "999.9")

        v1 = await started(d, "a calm lake")
        thread = v1.thread_ts or ""
        assert "No video in this thread is finished yet" in text(await remix(d, thread, "x"))

        v1 = await delivered(d, v1)
        assert "There is no v7 in this thread (versions here: v1)" in text(
            await remix(d, thread, "bigger", "v7")
        )
        assert await remix(d, thread, "at dawn") is None  # the latest delivered: v1
        v2 = (await d.jobs())[0]
        assert (v2.kind, v2.parent_job_id, v2.version_label) == (JobKind.REMIX, v1.id, "v2")
        assert v2.thread_ts == thread
        assert "versions here: v1, v2" in text(await remix(d, thread, "bigger", "v7"))

        await d.rig.store.transition(v2.id, S.FAILED, error_code="x", error_message="x")
        failed = await remix(d, thread, "smaller", "v2")
        assert "Cannot remix v2: it failed and has no video" in text(failed)
        assert failed is not None
        assert failed.to is To.THREAD

        await d.rig.store.transition(v1.id, S.DELETED)
        assert "Cannot remix v1: it was deleted" in text(await remix(d, thread, "a", "v1"))
        # Nothing delivered is left: the newest version says why it cannot be remixed.
        assert "Cannot remix v2: it failed" in text(await remix(d, thread, "at dusk"))
        assert len(await d.jobs()) == 2  # not one remix was queued after v2


async def test_a_remix_over_the_users_limit_is_told_privately(tmp_path: Path) -> None:
    async with desk(tmp_path, max_queued_per_user=1) as d:
        v1 = await delivered(d, await started(d, "a calm lake"))
        thread = v1.thread_ts or ""
        assert await remix(d, thread, "at dawn") is None
        refused = await remix(d, thread, "at dusk")
        assert "You already have 1 videos waiting" in text(refused)
        assert refused is not None
        assert (refused.to, refused.thread_ts) == (To.PRIVATE, thread)


# -- remove: who may ----------------------------------------------------------------------------


async def test_only_the_requester_or_an_admin_may_manage_a_video(tmp_path: Path) -> None:
    async with desk(tmp_path, admin_user_ids=frozenset({"UADMIN"})) as d:
        job = await started(d, "a calm lake")
        assert d.intake.may_manage("U1", job)
        assert d.intake.may_manage("UADMIN", job)
        assert not d.intake.may_manage("U2", job)

        value = str(job.id)
        refused = await d.intake.remove_button(channel="C1", user="U2", job_value=value)
        assert "Only <@U1> (who asked for it) or a Sora admin" in text(refused)
        assert (await d.rig.job(job.id)).state == S.QUEUED
        # A forged id from another conversation is ignored like an unknown one.
        assert await d.intake.remove_button(channel="C2", user="U1", job_value=value) is None
        assert (await d.rig.job(job.id)).state == S.QUEUED

        assert await d.intake.remove_button(channel="C1", user="UADMIN", job_value=value) is None
        canceled = await d.rig.job(job.id)
        assert (canceled.state, canceled.deleted_by) == (S.CANCELED, "UADMIN")


# -- report: what each person may see -------------------------------------------------------------


async def test_the_queue_shows_a_private_channels_prompt_only_to_its_requester_or_an_admin(
    tmp_path: Path,
) -> None:
    async with desk(tmp_path, admin_user_ids=frozenset({"UADMIN"})) as d:
        await started(d, "a secret plan", channel_id="G1")
        await started(d, "a public picnic", channel_id="C1", user_id="U3")

        async def queue(user: str) -> str:
            answer = await d.intake.report("queue", channel="C1", user=user, team_domain=None)
            assert answer.to is To.PRIVATE
            return answer.message.text

        assert "a secret plan" not in await queue("U2")
        assert "a public picnic" in await queue("U2")
        assert "a secret plan" in await queue("U1")
        assert "a secret plan" in await queue("UADMIN")


async def test_the_queue_is_not_shown_outside_the_allow_list(tmp_path: Path) -> None:
    async with desk(tmp_path, allowed_channel_ids=frozenset({"C1"})) as d:
        assert "isn't enabled" in text(d.intake.report_refused("queue", "C2"))
        assert d.intake.report_refused("queue", "C1") is None
        assert d.intake.report_refused("list", "C2") is None  # your own videos: anywhere


# -- a listener is a named method a test can call, without Bolt -------------------------------


class Said:
    """Records what a listener acked and responded (Bolt's ack() and respond() stand-ins)."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    async def __call__(self, **kwargs: Any) -> None:
        self.calls.append(kwargs)

    def text(self) -> str:
        return " ".join(str(call.get("text") or "") for call in self.calls)


async def test_the_sora_command_listener_can_be_called_directly(tmp_path: Path) -> None:
    from bot.slack.listeners.command import SoraCommand

    async with desk(tmp_path, allowed_channel_ids=frozenset({"C1"})) as d:
        listener = SoraCommand(d.intake)

        async def run(text: str, channel: str = "C1") -> tuple[Said, Said]:
            ack, respond = Said(), Said()
            command = {"text": text, "channel_id": channel, "user_id": "U1", "team_id": "T1"}
            await listener.on_sora(ack, command, d.intake_client, respond)  # type: ignore[arg-type]
            return ack, respond

        ack, respond = await run("a fox --seconds 5")
        assert "`--seconds 5` is not possible; use 4, 8 or 12" in ack.text()
        assert respond.calls == []
        assert await d.jobs() == []

        ack, _ = await run("a fox", channel="C2")
        assert "isn't enabled in this channel" in ack.text()
        assert await d.jobs() == []

        ack, respond = await run("a fox in the snow --landscape")
        assert ack.calls == [{}]  # acked empty, then queued
        assert respond.calls == []
        [job] = await d.jobs()
        assert (job.prompt, job.size, job.channel_id) == ("a fox in the snow", "1280x720", "C1")
