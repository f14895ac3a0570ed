"""Nothing private shown to others: listings show a prompt only to those who may see the
channel it was made in, and buttons act only on jobs of their own conversation, inside the
allow-list."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fakes.slack import FakeSlack
from rig import fast_emulator_config
from slack_sdk.web.async_client import AsyncWebClient
from slackrig import SlackRig, manifest_scopes, run_bot, until
from test_slack_conversation import eventually, modals, quiet, said, video
from test_slack_usage import ask

from bot.emulator import Emulator
from bot.slack import blocks as ui
from bot.slack.channels import ChannelKinds
from bot.store import JobState

S = JobState
DM = "DU1"  # U1's direct message with the bot


def world() -> tuple[FakeSlack, Emulator]:
    fake = FakeSlack(member_channels={"C1", "C2"}, scopes=manifest_scopes())
    fake.add_channel("G1", "secret-project", is_private=True, bot_member=True)
    fake.add_channel(DM, DM.lower(), members={"U1"}, bot_member=True)
    return fake, Emulator(fast_emulator_config())


async def queued(rig: SlackRig, text: str, channel: str, user: str = "U1") -> None:
    await rig.command(text, user=user, channel=channel)

    async def made() -> bool:
        jobs = await rig.store.recent_jobs_for_user(user, limit=1)
        return bool(jobs) and text.split(" [[")[0] in jobs[0].prompt and bool(jobs[0].card_ts)

    await until(made, 5, f"no job for {text!r}")


async def test_queue_shows_prompts_only_to_people_who_may_see_their_channel(
    tmp_path: Path,
) -> None:
    fake, emulator = world()
    allowed = frozenset({"C1", "G1", DM})
    async with (
        fake.serve(),
        emulator.serve(),
        run_bot(
            fake,
            emulator,
            tmp_path,
            max_running_jobs=1,
            admin_user_ids=frozenset({"UADMIN"}),
            allowed_channel_ids=allowed,
        ) as rig,
    ):
        await queued(rig, "SECRET-GROUP the launch plan [[never]]", "G1")  # runs, never ends
        await rig.wait_state(1, S.RUNNING)
        await queued(rig, "SECRET-DM my therapist's office", DM)
        await queued(rig, "a public corgi", "C1")

        other = await ask(rig, "queue", user="U2")
        assert "SECRET" not in other, other
        assert "therapist" not in other
        assert "a public corgi" in other
        assert "• a private request · in progress" in other
        assert ". a private request · 720x1280 · 4 s" in other  # its place and size
        assert "<@U1> · a public corgi" in other
        for viewer in ("U1", "UADMIN"):  # the requester, and an admin, see everything
            shown = await ask(rig, "queue", user=viewer)
            assert "SECRET-GROUP the launch plan" in shown
            assert "SECRET-DM my therapist" in shown
            assert "a private request" not in shown
        # Cards stay in their own conversation.
        for channel, secret in (("G1", "SECRET-GROUP"), (DM, "SECRET-DM")):
            assert all(secret not in said([m]) for m in rig.bot_messages("C1"))
            assert any(secret in said([m]) for m in rig.bot_messages(channel))


async def test_queue_is_refused_outside_the_allow_list(tmp_path: Path) -> None:
    fake, emulator = world()
    async with (
        fake.serve(),
        emulator.serve(),
        run_bot(fake, emulator, tmp_path, allowed_channel_ids=frozenset({"C1"})) as rig,
    ):
        await queued(rig, "a corgi [[never]]", "C1")
        assert "a corgi" in await ask(rig, "queue", user="U2")
        elsewhere = await ask(rig, "queue", user="U2", channel="C2")
        assert "isn't enabled in this channel" in elsewhere
        assert "corgi" not in elsewhere


async def test_buttons_act_only_on_jobs_of_their_conversation(tmp_path: Path) -> None:
    fake, emulator = world()
    async with fake.serve(), emulator.serve(), run_bot(fake, emulator, tmp_path) as rig:
        secret = await video(rig, "SECRET-GROUP a private video", channel="G1")
        mine = await video(rig, "a public video", user="U2")
        await rig.send("interactive", fake.block_action(  # an honest press works
            ui.ACTION_REMIX, str(mine.id), "U1", "C1", mine.card_ts or ""
        ))  # fmt: skip
        await eventually(lambda: modals(rig, ui.VIEW_REMIX), "no remix modal")
        fake.views.clear()
        # Forged or stale: a card in C1, but the job id of the private channel's video. It is
        # ignored as an unknown id is: nothing tells whether that job exists.
        for action in (ui.ACTION_REMIX, ui.ACTION_DELETE):
            forged = fake.block_action(action, str(secret.id), "U1", "C1", mine.card_ts or "")
            await rig.send("interactive", forged)
        await quiet(rig)
        assert modals(rig, ui.VIEW_REMIX) == []
        assert fake.ephemerals("U1") == []
        assert (await rig.job(secret.id)).state == S.DELIVERED
        # The same presses with the job of this channel are answered.
        delete = fake.block_action(ui.ACTION_DELETE, str(mine.id), "U1", "C1", mine.card_ts or "")
        await rig.send("interactive", delete)
        await eventually(lambda: fake.ephemerals("U1"), "an honest press not answered")
        assert "Only <@U2>" in said(fake.ephemerals("U1"))


async def test_buttons_follow_the_allow_list_as_reactions_do(tmp_path: Path) -> None:
    fake, emulator = world()
    async with fake.serve(), emulator.serve():
        async with run_bot(fake, emulator, tmp_path) as rig:
            secret = await video(rig, "a private video", channel="G1")
            mine = await video(rig, "a public video", user="U2")
        # The allow-list changes: C1 is out. The owner's buttons there now do nothing, as
        # their reactions do.
        async with run_bot(fake, emulator, tmp_path, allowed_channel_ids=frozenset({"G1"})) as rig:
            for action in (ui.ACTION_DELETE, ui.ACTION_REMIX):
                press = fake.block_action(action, str(mine.id), "U2", "C1", mine.card_ts or "")
                await rig.send("interactive", press)
            await eventually(lambda: len(fake.ephemerals("U2")) == 2, "presses not refused")
            assert all("isn't enabled in this channel" in said([e]) for e in fake.ephemerals("U2"))
            await quiet(rig)
            assert (await rig.job(mine.id)).state == S.DELIVERED
            assert modals(rig, ui.VIEW_REMIX) == []
            reaction = fake.reaction_added("U2", "wastebasket", "C1", mine.card_ts or "")
            await rig.send("events_api", reaction)
            await quiet(rig)
            assert (await rig.job(mine.id)).state == S.DELIVERED
            # In the allowed private channel, the owner's Delete still works.
            press = fake.block_action(
                ui.ACTION_DELETE, str(secret.id), "U1", "G1", secret.card_ts or ""
            )
            await rig.send("interactive", press)
            await rig.wait_state(secret.id, S.DELETED)


async def test_channel_kinds_fail_closed_and_ask_once(tmp_path: Path) -> None:
    fake, _ = world()
    async with fake.serve() as api_url:
        kinds = ChannelKinds(AsyncWebClient(token="xoxb-test", base_url=api_url))
        answers = await asyncio.gather(*(kinds.is_public("C1") for _ in range(20)))
        assert answers == [True] * 20
        assert len(fake.calls_to("conversations.info")) == 1  # one question for the burst
        assert await kinds.is_public("G1") is False  # Slack won't describe it: missing_scope
        assert await kinds.is_public(DM) is False
        fake.fail_next("conversations.info", status=200, error="internal_error")
        assert await kinds.is_public("C2") is False  # an error: not public
        assert await kinds.is_public("CNOPE") is False
