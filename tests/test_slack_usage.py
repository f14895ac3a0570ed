"""Spend control end to end: /sora list, queue and usage, the daily quota, the channel
allow-list on every surface."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fakes.slack import FakeSlack
from rig import fast_emulator_config
from slackrig import SlackRig, manifest_scopes, run_bot, slack_rig
from test_slack_conversation import (
    eventually,
    modals,
    quiet,
    reply,
    said,
    sora_calls,
    video,
)
from test_slack_shortcut import as_submitted, open_modal, person_message

from bot.emulator import Emulator
from bot.slack import blocks as ui
from bot.store import JobState

S = JobState


async def ask(rig: SlackRig, text: str, user: str = "U1", channel: str = "C1") -> str:
    """``/sora TEXT``: what the person sees (the ack, or the answer on the response_url)."""
    ack, _, payload = await rig.command(text, user=user, channel=channel)
    if (ack.get("payload") or {}).get("blocks"):
        return json.dumps(ack, ensure_ascii=False)
    return said(await eventually(lambda: rig.fake.responses(payload["response_url"]), text))


def permalink(job: Any) -> str:
    return f"https://fake-workspace.slack.com/archives/C1/p{(job.card_ts or '').replace('.', '')}"


async def test_list_shows_my_videos_with_links_to_their_threads(tmp_path: Path) -> None:
    async with slack_rig(tmp_path) as rig:
        assert "You have no videos yet" in await ask(rig, "list")
        first = await video(rig, "a glass of water")
        await rig.command("[[moderation_blocked]] a bad idea")
        await rig.wait_state(2, S.FAILED)
        await video(rig, "someone else's video", user="U2")
        shown = await ask(rig, "list")
        assert f"<{permalink(first)}|v1> · done · 4 s · a glass of water" in shown
        assert "· failed ·" in shown
        assert "someone else" not in shown


async def test_queue_shows_what_runs_and_what_waits_in_order(tmp_path: Path) -> None:
    config = fast_emulator_config()
    async with slack_rig(tmp_path, emulator_config=config, max_running_jobs=1) as rig:
        assert "Nothing is running or waiting" in await ask(rig, "queue")
        await rig.command("first, slowly [[gen=3]]")
        await rig.wait_state(1, S.RUNNING)
        await rig.command("second by U1")
        await rig.command("third by U2", user="U2")
        await rig.wait_state(2, S.QUEUED)
        await rig.wait_state(3, S.QUEUED)
        shown = await ask(rig, "queue", user="U3")
        assert "*Running (1)*" in shown
        assert "<@U1> · in progress" in shown
        assert "*Waiting (2)*" in shown
        # Fair across people: U2 has nothing running, so U2 goes first.
        assert shown.index("1. <@U2> · third by U2") < shown.index("2. <@U1> · second by U1")


async def test_usage_adds_up_seconds_and_cost_this_month(tmp_path: Path) -> None:
    async with slack_rig(
        tmp_path, admin_user_ids=frozenset({"UADMIN"}), price_per_second=0.25
    ) as rig:
        await video(rig, "four seconds")
        await video(rig, "eight seconds --seconds 8")
        await rig.command("[[moderation_blocked]] twelve --seconds 12")
        await rig.command("[[face]] blocked at once --seconds 12")
        await rig.wait_state(3, S.FAILED)
        await rig.wait_state(4, S.FAILED)
        await video(rig, "someone else", user="U2")

        mine = await ask(rig, "usage")
        assert "(estimated at $0.25 a second)" in mine
        assert "You (<@U1>): 12 s · $3.00" in mine  # failed and blocked videos are free
        assert "Everyone" not in mine  # only admins see everyone's
        admin = await ask(rig, "usage", user="UADMIN")
        assert "You (<@UADMIN>): 0 s · $0.00" in admin
        assert "*Everyone: 16 s · $4.00*" in admin
        assert "<@U1>: 2 videos · 12 s · $3.00" in admin
        assert "<@U2>: 1 videos · 4 s · $1.00" in admin


async def test_daily_seconds_quota_applies_to_every_surface(tmp_path: Path) -> None:
    async with slack_rig(tmp_path, user_daily_seconds=8) as rig:
        await rig.command("[[face]] does not count --seconds 8")
        await rig.wait_state(1, S.FAILED)
        first = await video(rig, "eight seconds --seconds 8")
        calls = sora_calls(rig)

        refusal = await ask(rig, "four more")
        assert "your limit of 8 seconds of video a day: you have 0 seconds left" in refusal
        await reply(rig, "remix: once more", first.card_ts or "")
        told = await eventually(lambda: rig.fake.ephemerals("U1"), "remix not refused")
        assert "0 seconds left" in said(told)
        view = await open_modal(rig, person_message(rig, "from a message"))
        submission = rig.fake.view_submission(view, "U1", as_submitted(view))
        await rig.send("interactive", submission)
        await eventually(lambda: len(rig.fake.ephemerals("U1")) >= 2, "modal not refused")
        assert "0 seconds left" in said(rig.fake.ephemerals("U1")[1:])

        await video(rig, "U2 has their own day", user="U2")
        assert "you have 4 seconds left" in await ask(rig, "too long --seconds 8", user="U2")
        await quiet(rig)
        assert len(rig.fake.ephemerals("U1")) == 2  # waited for >= 2: exactly 2 once quiet
        assert sora_calls(rig) == calls + 1  # only U2's video
        assert len(await rig.store.recent_jobs_for_user("U1")) == 2


async def test_the_channel_allow_list_applies_to_every_surface(tmp_path: Path) -> None:
    fake = FakeSlack(member_channels={"C1", "C2"}, scopes=manifest_scopes())
    emulator = Emulator(fast_emulator_config())
    async with fake.serve(), emulator.serve():
        async with run_bot(fake, emulator, tmp_path) as rig:  # no allow-list yet
            elsewhere = await video(rig, "made before the allow-list", channel="C2")
        async with run_bot(fake, emulator, tmp_path, allowed_channel_ids=frozenset({"C1"})) as rig:
            calls = sora_calls(rig)
            assert "isn't enabled in this channel" in await ask(rig, "a cat", channel="C2")

            message = person_message(rig, "a dog", channel="C2")
            shortcut = fake.message_shortcut(ui.SHORTCUT_FROM_MESSAGE, message, channel="C2")
            await rig.send("interactive", shortcut)
            await eventually(lambda: fake.ephemerals("U1"), "shortcut not refused")

            card = {"type": "message", "ts": elsewhere.card_ts, "text": ""}
            remix = fake.message_shortcut(ui.SHORTCUT_REMIX, card, channel="C2")
            await rig.send("interactive", remix)
            await eventually(lambda: len(fake.ephemerals("U1")) >= 2, "Remix not refused")

            await reply(rig, "remix: at night", elsewhere.card_ts or "", channel="C2")
            await eventually(lambda: len(fake.ephemerals("U1")) >= 3, "remix not refused")

            reaction = fake.reaction_added("U1", "wastebasket", "C2", elsewhere.card_ts or "")
            await rig.send("events_api", reaction)
            await quiet(rig)
            assert all("isn't enabled" in said([e]) for e in fake.ephemerals("U1"))
            assert modals(rig, ui.VIEW_OPTIONS) == modals(rig, ui.VIEW_REMIX) == []
            assert (await rig.job(elsewhere.id)).state == S.DELIVERED
            assert await rig.store.get_job(elsewhere.id + 1) is None
            assert sora_calls(rig) == calls

            await video(rig, "fine here")  # C1 still works
